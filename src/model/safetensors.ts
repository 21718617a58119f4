import { UserError } from '../util/errors.js';

/**
 * Reader and writer for the safetensors format used by HuggingFace checkpoints:
 * an 8-byte little-endian u64 header length N, N bytes of UTF-8 JSON describing each tensor,
 * then the raw tensor bytes (offsets in the JSON are relative to the start of that data).
 * Everything in the simulator works in float32, so every supported dtype decodes to float32.
 */

export interface NamedArray {
  name: string;
  shape: number[];
  data: Float32Array;
}

/** Same limit as the reference Rust implementation: a larger header is a corrupt or hostile file. */
const MAX_HEADER_BYTES = 100_000_000;

const METADATA_KEY = '__metadata__';

/** Byte sizes of every dtype the reference implementation defines, so skipped tensors still get bounds-checked. */
const DTYPE_BYTES: Record<string, number> = {
  BOOL: 1, U8: 1, I8: 1, F8_E4M3: 1, F8_E5M2: 1,
  U16: 2, I16: 2, F16: 2, BF16: 2,
  U32: 4, I32: 4, F32: 4,
  U64: 8, I64: 8, F64: 8,
};

type FloatDtype = 'F32' | 'F16' | 'BF16' | 'F64';
const FLOAT_DTYPES: ReadonlySet<string> = new Set<FloatDtype>(['F32', 'F16', 'BF16', 'F64']);

// F32 tensors are copied byte-for-byte between typed arrays and the file, which is only
// correct when the host's float layout is little-endian like the format.
if (new Uint8Array(new Uint32Array([1]).buffer)[0] !== 1) {
  throw new Error('safetensors: big-endian hosts are not supported');
}

/** Encodes F32 tensors, sorted by name so that equal inputs give byte-identical files. */
export function encodeSafetensors(tensors: NamedArray[], metadata?: Record<string, string>): Buffer {
  const sorted = [...tensors].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  // The reference writer puts __metadata__ first; key order is otherwise insertion order.
  const header: Record<string, unknown> = metadata ? { [METADATA_KEY]: { ...metadata } } : {};
  let offset = 0;
  for (let i = 0; i < sorted.length; i++) {
    const t = sorted[i];
    if (t.name === METADATA_KEY) throw new Error(`safetensors: tensor name ${METADATA_KEY} is reserved`);
    if (i > 0 && sorted[i - 1].name === t.name) throw new Error(`safetensors: duplicate tensor name ${t.name}`);
    if (t.data.length !== product(t.shape)) {
      throw new Error(`safetensors: ${t.name}: shape [${t.shape.join(', ')}] does not match ${t.data.length} values`);
    }
    header[t.name] = { dtype: 'F32', shape: t.shape, data_offsets: [offset, offset + t.data.byteLength] };
    offset += t.data.byteLength;
  }

  const json = JSON.stringify(header);
  const jsonBytes = Buffer.byteLength(json, 'utf8');
  // Padding keeps the data section 8-aligned (8-byte prefix + multiple-of-8 header), as HF does.
  const headerLen = Math.ceil(jsonBytes / 8) * 8;
  const out = Buffer.alloc(8 + headerLen + offset);
  out.writeBigUInt64LE(BigInt(headerLen), 0);
  out.write(json, 8, 'utf8');
  out.fill(0x20, 8 + jsonBytes, 8 + headerLen);
  let pos = 8 + headerLen;
  for (const t of sorted) {
    out.set(new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength), pos);
    pos += t.data.byteLength;
  }
  return out;
}

interface Entry {
  name: string;
  dtype: string;
  shape: number[];
  begin: number;
  end: number;
}

/**
 * Decodes a safetensors file, validating every offset before touching the data so that a
 * corrupt file gives a one-line UserError naming `file`, never a RangeError.
 * Integer `*position_ids` buffers (shipped by HF BERT) are skipped; other non-float dtypes are rejected.
 */
export function decodeSafetensors(
  buf: Buffer | Uint8Array,
  file: string,
): { tensors: Map<string, NamedArray>; metadata: Record<string, string> } {
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  if (buf.byteLength < 8) {
    throw new UserError(file, '', `file is ${buf.byteLength} bytes, shorter than the 8-byte header length`);
  }
  const declared = view.getBigUint64(0, true);
  if (declared > BigInt(buf.byteLength - 8)) {
    throw new UserError(file, '', `header length ${declared} exceeds the ${buf.byteLength - 8} bytes after the prefix`);
  }
  if (declared > BigInt(MAX_HEADER_BYTES)) {
    throw new UserError(file, '', `header length ${declared} exceeds the ${MAX_HEADER_BYTES}-byte limit`);
  }
  const headerLen = Number(declared);
  const header = parseHeader(buf.subarray(8, 8 + headerLen), file);
  const dataStart = 8 + headerLen;
  const dataLen = buf.byteLength - dataStart;

  let metadata: Record<string, string> = {};
  const entries: Entry[] = [];
  for (const [name, raw] of Object.entries(header)) {
    if (name === METADATA_KEY) metadata = parseMetadata(raw, file);
    else entries.push(parseEntry(name, raw, dataLen, file));
  }

  const byOffset = [...entries].sort((a, b) => a.begin - b.begin || a.end - b.end);
  for (let i = 1; i < byOffset.length; i++) {
    const prev = byOffset[i - 1];
    const cur = byOffset[i];
    if (cur.begin < prev.end) {
      throw new UserError(
        file,
        fieldName(cur.name),
        `data_offsets [${cur.begin}, ${cur.end}] overlap tensor ${fieldName(prev.name)} [${prev.begin}, ${prev.end}]`,
      );
    }
  }

  const tensors = new Map<string, NamedArray>();
  const byName = [...entries].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  for (const e of byName) {
    if (!FLOAT_DTYPES.has(e.dtype)) continue;
    const bytes = buf.subarray(dataStart + e.begin, dataStart + e.end);
    tensors.set(e.name, { name: e.name, shape: e.shape, data: toFloat32(bytes, e.dtype as FloatDtype) });
  }
  return { tensors, metadata };
}

function parseHeader(bytes: Uint8Array, file: string): Record<string, unknown> {
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    throw new UserError(file, '', 'header is not valid UTF-8');
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    // V8 quotes part of the input in its message; collapse it so the error stays on one line.
    // eslint-disable-next-line no-control-regex -- V8 quotes the bad input, control characters included
    const detail = (err as Error).message.replace(/\s+/g, ' ').replace(/[\u0000-\u001f\u007f]/g, '?').slice(0, 200);
    throw new UserError(file, '', `header is not valid JSON (${detail})`);
  }
  if (!isObject(parsed)) throw new UserError(file, '', 'header is not a JSON object');
  return parsed;
}

function parseMetadata(raw: unknown, file: string): Record<string, string> {
  if (!isObject(raw) || !Object.values(raw).every((v) => typeof v === 'string')) {
    throw new UserError(file, METADATA_KEY, 'expected an object mapping strings to strings');
  }
  // fromEntries defines own properties, so a "__proto__" key cannot change the prototype.
  return Object.fromEntries(Object.entries(raw as Record<string, string>));
}

function parseEntry(name: string, raw: unknown, dataLen: number, file: string): Entry {
  const field = fieldName(name);
  if (!isObject(raw)) throw new UserError(file, field, 'expected an object with dtype, shape and data_offsets');
  const { dtype, shape, data_offsets: offsets } = raw;
  if (typeof dtype !== 'string') throw new UserError(file, field, 'dtype missing or not a string');
  if (!Array.isArray(shape)) throw new UserError(file, field, 'shape missing or not an array');
  if (!shape.every(isNonNegativeInt)) {
    throw new UserError(file, field, `shape ${JSON.stringify(shape)} must contain non-negative integers`);
  }
  if (!Array.isArray(offsets)) throw new UserError(file, field, 'data_offsets missing or not an array');
  if (offsets.length !== 2 || !offsets.every(isNonNegativeInt) || offsets[0] > offsets[1]) {
    throw new UserError(file, field, `data_offsets ${JSON.stringify(offsets)} must be integers [begin, end] with begin <= end`);
  }
  const skippable = name.endsWith('position_ids');
  if (!FLOAT_DTYPES.has(dtype) && !(skippable && dtype in DTYPE_BYTES)) {
    throw new UserError(file, field, `unsupported dtype ${dtype}`);
  }
  const [begin, end] = offsets as number[];
  if (end > dataLen) {
    throw new UserError(file, field, `data_offsets end ${end} is beyond the ${dataLen}-byte data section`);
  }
  const expected = product(shape) * DTYPE_BYTES[dtype];
  if (end - begin !== expected) {
    throw new UserError(
      file,
      field,
      `data_offsets span ${end - begin} bytes but shape ${JSON.stringify(shape)} of ${dtype} needs ${expected}`,
    );
  }
  return { name, dtype, shape: [...shape], begin, end };
}

/** Copies out of the file buffer, so the result neither aliases it nor depends on its alignment. */
function toFloat32(bytes: Uint8Array, dtype: FloatDtype): Float32Array {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  switch (dtype) {
    case 'F32': {
      const out = new Float32Array(bytes.byteLength / 4);
      new Uint8Array(out.buffer).set(bytes);
      return out;
    }
    case 'F64': {
      const out = new Float32Array(bytes.byteLength / 8);
      for (let i = 0; i < out.length; i++) out[i] = view.getFloat64(i * 8, true);
      return out;
    }
    case 'BF16': {
      // bfloat16 is the top half of a float32, so widening is exact, NaN payloads included.
      const out = new Float32Array(bytes.byteLength / 2);
      const bits = new Uint32Array(out.buffer);
      for (let i = 0; i < out.length; i++) bits[i] = view.getUint16(i * 2, true) << 16;
      return out;
    }
    case 'F16': {
      const out = new Float32Array(bytes.byteLength / 2);
      const bits = new Uint32Array(out.buffer);
      for (let i = 0; i < out.length; i++) {
        const h = view.getUint16(i * 2, true);
        const sign = (h & 0x8000) << 16;
        const exp = (h >> 10) & 0x1f;
        const mant = h & 0x3ff;
        if (exp === 0x1f) bits[i] = sign | 0x7f800000 | (mant << 13);
        else if (exp !== 0) bits[i] = sign | ((exp + 112) << 23) | (mant << 13);
        // Half subnormals are normal in float32; mant * 2^-24 is exact, and sign keeps -0.
        else out[i] = (sign ? -1 : 1) * mant * 2 ** -24;
      }
      return out;
    }
  }
}

function product(shape: number[]): number {
  return shape.reduce((p, d) => p * d, 1);
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function isNonNegativeInt(v: unknown): v is number {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
}

/** Tensor names come from the file; quote any with control characters to keep messages on one line. */
function fieldName(name: string): string {
  // JSON.stringify leaves U+2028 and U+2029 as they are, so those are escaped by hand.
  // eslint-disable-next-line no-control-regex
  return /[\u0000-\u001f\u007f\u2028\u2029]/.test(name) ? JSON.stringify(name).replace(/\u2028/g, '\\u2028').replace(/\u2029/g, '\\u2029') : name;
}
