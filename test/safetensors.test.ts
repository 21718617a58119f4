import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { readCheckpoint, sha256File, writeCheckpoint } from '../src/model/checkpoint.js';
import { decodeSafetensors, encodeSafetensors, type NamedArray } from '../src/model/safetensors.js';
import { appendLineDurable, writeFileAtomic } from '../src/util/atomic-write.js';
import { UserError } from '../src/util/errors.js';

const FILE = '/ckpt/bad model.safetensors';

/** Builds a file with plain Buffer ops, independent of the encoder: prefix, header text, data. */
function rawFile(header: unknown, data: Buffer = Buffer.alloc(0), declaredLength?: bigint): Buffer {
  const json = Buffer.isBuffer(header)
    ? header
    : Buffer.from(typeof header === 'string' ? header : JSON.stringify(header), 'utf8');
  const prefix = Buffer.alloc(8);
  prefix.writeBigUInt64LE(declaredLength ?? BigInt(json.length));
  return Buffer.concat([prefix, json, data]);
}

function f32Bytes(values: number[]): Buffer {
  const b = Buffer.alloc(values.length * 4);
  values.forEach((v, i) => b.writeFloatLE(v, i * 4));
  return b;
}

function u16Bytes(values: number[]): Buffer {
  const b = Buffer.alloc(values.length * 2);
  values.forEach((v, i) => b.writeUInt16LE(v, i * 2));
  return b;
}

function bitsOf(a: Float32Array): number[] {
  return [...new Uint32Array(a.buffer, a.byteOffset, a.length)];
}

function floatsFromBits(bits: number[]): Float32Array {
  return new Float32Array(new Uint32Array(bits).buffer);
}

describe('encodeSafetensors / decodeSafetensors', () => {
  it('round-trips names, shapes, metadata and exact float bits', () => {
    const specialBits = [
      0x7fc00000, // canonical NaN
      0x7fc00001, // NaN with payload
      0xffc00000, // negative NaN
      0x80000000, // -0
      0x00000001, // smallest denormal
      0x807fffff, // largest negative denormal
      0x7f800000, // +Inf
      0xff800000, // -Inf
      0x7f7fffff, // max float
    ];
    const tensors: NamedArray[] = [
      { name: 'z.bias', shape: [3], data: new Float32Array([1.5, -2.25, 3e-8]) },
      { name: 'a.special', shape: [3, 3], data: floatsFromBits(specialBits) },
      { name: 'scalar', shape: [], data: new Float32Array([42]) },
      { name: 'empty', shape: [0, 4], data: new Float32Array(0) },
    ];
    const buf = encodeSafetensors(tensors, { format: 'pt', note: 'ünïcode' });
    const { tensors: out, metadata } = decodeSafetensors(buf, FILE);

    expect(metadata).toEqual({ format: 'pt', note: 'ünïcode' });
    expect([...out.keys()]).toEqual(['a.special', 'empty', 'scalar', 'z.bias']);
    for (const t of tensors) {
      const got = out.get(t.name)!;
      expect(got.name).toBe(t.name);
      expect(got.shape).toEqual(t.shape);
      expect(bitsOf(got.data)).toEqual(bitsOf(t.data));
    }
  });

  it('is deterministic regardless of input order', () => {
    const a = { name: 'a', shape: [1], data: new Float32Array([1]) };
    const b = { name: 'b', shape: [2], data: new Float32Array([2, 3]) };
    expect(encodeSafetensors([b, a]).equals(encodeSafetensors([a, b]))).toBe(true);
  });

  it('pads the header with spaces so the data section is 8-aligned', () => {
    for (const name of ['w', 'ww', 'www', 'wwww', 'layer.0.attention.self.query.weight']) {
      const buf = encodeSafetensors([{ name, shape: [2], data: new Float32Array([1, 2]) }]);
      const n = Number(buf.readBigUInt64LE(0));
      expect(n % 8).toBe(0);
      const header = buf.subarray(8, 8 + n).toString('utf8');
      expect(header).toMatch(/^\{.*\} *$/);
      expect(JSON.parse(header)[name].data_offsets).toEqual([0, 8]);
      expect(buf.length).toBe(8 + n + 8);
    }
  });

  it('rejects encoder misuse', () => {
    expect(() => encodeSafetensors([{ name: 'w', shape: [3], data: new Float32Array(2) }])).toThrow(/does not match/);
    const w = { name: 'w', shape: [1], data: new Float32Array(1) };
    expect(() => encodeSafetensors([w, w])).toThrow(/duplicate/);
    expect(() => encodeSafetensors([{ ...w, name: '__metadata__' }])).toThrow(/reserved/);
  });

  it('encodes a Float32Array that is a view into a larger buffer', () => {
    const backing = new Float32Array([9, 1, 2, 9]);
    const buf = encodeSafetensors([{ name: 'v', shape: [2], data: backing.subarray(1, 3) }]);
    expect([...decodeSafetensors(buf, FILE).tensors.get('v')!.data]).toEqual([1, 2]);
  });

  it('decodes F16 by hand-computed bit patterns', () => {
    const cases: [number, number][] = [
      [0x3c00, 1],
      [0xc000, -2],
      [0x3555, 0.333251953125], // 1365/4096
      [0x7bff, 65504], // max half
      [0x0400, 2 ** -14], // min normal
      [0x03ff, 1023 * 2 ** -24], // max subnormal
      [0x0001, 2 ** -24], // min subnormal
      [0x8001, -(2 ** -24)],
      [0x0000, 0],
      [0x7c00, Infinity],
      [0xfc00, -Infinity],
    ];
    const nanBits = [0x7e00, 0xfe01];
    const file = rawFile(
      { h: { dtype: 'F16', shape: [cases.length + 3], data_offsets: [0, (cases.length + 3) * 2] } },
      u16Bytes([...cases.map(([b]) => b), 0x8000, ...nanBits]),
    );
    const data = decodeSafetensors(file, FILE).tensors.get('h')!.data;
    cases.forEach(([, v], i) => expect(data[i]).toBe(v));
    expect(Object.is(data[cases.length], -0)).toBe(true);
    expect(Number.isNaN(data[cases.length + 1])).toBe(true);
    expect(Number.isNaN(data[cases.length + 2])).toBe(true);
    expect(bitsOf(data.subarray(cases.length + 1))).toEqual([0x7fc00000, 0xffc02000]);
  });

  it('decodes BF16 by hand-computed bit patterns', () => {
    const file = rawFile(
      { b: { dtype: 'BF16', shape: [2, 4], data_offsets: [0, 16] } },
      u16Bytes([0x3f80, 0xc040, 0x4049, 0x0001, 0x7f80, 0xff80, 0x8000, 0x7fc0]),
    );
    const t = decodeSafetensors(file, FILE).tensors.get('b')!;
    expect(t.shape).toEqual([2, 4]);
    expect([...t.data.subarray(0, 6)]).toEqual([1, -3, 3.140625, 2 ** -133, Infinity, -Infinity]);
    expect(Object.is(t.data[6], -0)).toBe(true);
    expect(Number.isNaN(t.data[7])).toBe(true);
  });

  it('decodes F64 by rounding to float32', () => {
    const data = Buffer.alloc(24);
    [0.1, -1e300, 2.5].forEach((v, i) => data.writeDoubleLE(v, i * 8));
    const file = rawFile({ d: { dtype: 'F64', shape: [3], data_offsets: [0, 24] } }, data);
    expect([...decodeSafetensors(file, FILE).tensors.get('d')!.data]).toEqual([Math.fround(0.1), -Infinity, 2.5]);
  });

  it('reads the reference HF layout: metadata first, skipped position_ids, gaps, unaligned data', () => {
    // An unpadded header of odd length puts the data section at an unaligned offset.
    const header =
      '{"__metadata__":{"format":"pt"},' +
      '"bert.embeddings.position_ids":{"dtype":"I64","shape":[1,2],"data_offsets":[0,16]},' +
      '"bert.pooler.dense.weight":{"dtype":"F32","shape":[2,2],"data_offsets":[20,36]},' +
      '"bert.pooler.dense.bias":{"dtype":"F32","shape":[2],"data_offsets":[36,44]}}';
    const ids = Buffer.alloc(16);
    ids.writeBigInt64LE(0n, 0);
    ids.writeBigInt64LE(1n, 8);
    const gap = Buffer.from([0xde, 0xad, 0xbe, 0xef]);
    const file = rawFile(header, Buffer.concat([ids, gap, f32Bytes([1, 2, 3, 4]), f32Bytes([-0.5, 0.25])]));
    expect((8 + Buffer.byteLength(header)) % 4).not.toBe(0);

    const { tensors, metadata } = decodeSafetensors(new Uint8Array(file), FILE);
    expect(metadata).toEqual({ format: 'pt' });
    expect([...tensors.keys()]).toEqual(['bert.pooler.dense.bias', 'bert.pooler.dense.weight']);
    expect(tensors.get('bert.pooler.dense.weight')!.shape).toEqual([2, 2]);
    expect([...tensors.get('bert.pooler.dense.weight')!.data]).toEqual([1, 2, 3, 4]);
    expect([...tensors.get('bert.pooler.dense.bias')!.data]).toEqual([-0.5, 0.25]);
  });

  it('copies data out of the file buffer instead of aliasing it', () => {
    const buf = encodeSafetensors([{ name: 'w', shape: [2], data: new Float32Array([1, 2]) }]);
    const w = decodeSafetensors(buf, FILE).tensors.get('w')!;
    buf.fill(0xff, buf.length - 8);
    expect([...w.data]).toEqual([1, 2]);
    expect(w.data.buffer).not.toBe(buf.buffer);
  });

  describe('corrupt files give a one-line UserError naming the file', () => {
    const good = { dtype: 'F32', shape: [2], data_offsets: [0, 8] };
    const eight = Buffer.alloc(8);
    const cases: [string, Buffer, RegExp][] = [
      ['empty file', Buffer.alloc(0), /shorter than the 8-byte/],
      ['file shorter than 8 bytes', Buffer.alloc(5), /5 bytes, shorter/],
      ['header length beyond the file', rawFile({}, eight, 100n), /header length 100 exceeds/],
      ['header length near 2^64', rawFile({}, eight, 2n ** 64n - 1n), /header length 18446744073709551615 exceeds/],
      ['header not valid UTF-8', rawFile(Buffer.from([0x7b, 0x22, 0xff, 0x22, 0x3a, 0x31, 0x7d]), eight), /not valid UTF-8/],
      ['header not JSON', rawFile('{"w": {"dtype":\n"F32",', eight), /not valid JSON/],
      ['header is an array', rawFile([good], eight), /not a JSON object/],
      ['header is null', rawFile('null', eight), /not a JSON object/],
      ['entry not an object', rawFile({ w: 'F32' }, eight), /w: expected an object/],
      ['entry missing dtype', rawFile({ w: { shape: [2], data_offsets: [0, 8] } }, eight), /w: dtype missing/],
      ['shape not an array', rawFile({ w: { ...good, shape: 2 } }, eight), /w: shape missing or not an array/],
      ['missing data_offsets', rawFile({ w: { dtype: 'F32', shape: [2] } }, eight), /w: data_offsets missing/],
      ['negative shape dim', rawFile({ w: { ...good, shape: [-2] } }, eight), /w: shape \[-2\] must contain non-negative/],
      ['fractional shape dim', rawFile({ w: { ...good, shape: [1.5] } }, eight), /w: shape \[1.5\]/],
      ['string shape dim', rawFile({ w: { ...good, shape: ['2'] } }, eight), /w: shape \["2"\]/],
      ['begin > end', rawFile({ w: { ...good, data_offsets: [8, 0] } }, eight), /w: data_offsets \[8,0\] must be/],
      ['one offset', rawFile({ w: { ...good, data_offsets: [0] } }, eight), /w: data_offsets \[0\] must be/],
      ['negative offset', rawFile({ w: { ...good, data_offsets: [-4, 4] } }, eight), /w: data_offsets \[-4,4\]/],
      ['fractional offset', rawFile({ w: { ...good, data_offsets: [0, 7.5] } }, eight), /w: data_offsets \[0,7.5\]/],
      ['end beyond data', rawFile({ w: { ...good, data_offsets: [4, 12] } }, eight), /w: data_offsets end 12 is beyond the 8-byte/],
      ['length != shape', rawFile({ w: { ...good, shape: [3] } }, eight), /w: data_offsets span 8 bytes but shape \[3\] of F32 needs 12/],
      [
        'shape product overflows',
        rawFile({ w: { ...good, shape: [2 ** 52, 2 ** 52] } }, eight),
        /w: data_offsets span 8 bytes but shape/,
      ],
      [
        'overlapping tensors',
        rawFile({ a: good, b: { ...good, shape: [1], data_offsets: [4, 8] } }, eight),
        /b: data_offsets \[4, 8\] overlap tensor a \[0, 8\]/,
      ],
      ['unsupported dtype', rawFile({ w: { ...good, dtype: 'I32' } }, eight), /w: unsupported dtype I32/],
      ['unknown dtype', rawFile({ w: { ...good, dtype: 'F128' } }, eight), /w: unsupported dtype F128/],
      ['unknown dtype on position_ids', rawFile({ position_ids: { ...good, dtype: 'X' } }, eight), /unsupported dtype X/],
      ['bad metadata', rawFile({ __metadata__: { epoch: 3 } }, eight), /__metadata__: expected an object mapping strings/],
      ['newline in tensor name', rawFile({ 'a\nb': { ...good, dtype: 'BOOL' } }, eight), /"a\\nb": unsupported dtype BOOL/],
    ];
    it.each(cases)('%s', (_label, buf, pattern) => {
      let caught: unknown;
      try {
        decodeSafetensors(buf, FILE);
      } catch (err) {
        caught = err;
      }
      expect(caught).toBeInstanceOf(UserError);
      const message = (caught as UserError).message;
      expect(message.startsWith(`${FILE}: `)).toBe(true);
      expect(message).not.toContain('\n');
      expect(message).toMatch(pattern);
    });
  });

  it('rejects a header over the 100 MB limit even when the file is that large', () => {
    const buf = Buffer.alloc(8 + 100_000_008);
    buf.writeBigUInt64LE(100_000_008n);
    expect(() => decodeSafetensors(buf, FILE)).toThrow(/header length 100000008 exceeds the 100000000-byte limit/);
  });

  it('still bounds-checks skipped position_ids tensors', () => {
    const file = rawFile({ 'embeddings.position_ids': { dtype: 'I64', shape: [4], data_offsets: [0, 16] } }, Buffer.alloc(8));
    expect(() => decodeSafetensors(file, FILE)).toThrow(/position_ids: data_offsets end 16 is beyond/);
  });
});

describe('checkpoint directories and atomic writes', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'fedpft-ckpt-'));
  });
  afterEach(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  it('round-trips config, tensors and metadata, and reports the weights sha256', () => {
    const ckpt = join(dir, 'nested', 'model');
    const config = { model_type: 'bert', hidden_size: 4, architectures: ['BertModel'] };
    const tensors = [
      { name: 'w', shape: [2, 2], data: new Float32Array([1, 2, 3, 4]) },
      { name: 'b', shape: [2], data: new Float32Array([0.5, -0.5]) },
    ];
    const { sha256 } = writeCheckpoint(ckpt, config, tensors, { round: '3' });
    const weights = join(ckpt, 'model.safetensors');
    expect(sha256).toBe(createHash('sha256').update(readFileSync(weights)).digest('hex'));
    expect(sha256File(weights)).toBe(sha256);

    const read = readCheckpoint(ckpt);
    expect(read.dir).toBe(ckpt);
    expect(read.config).toEqual(config);
    expect(read.metadata).toEqual({ round: '3' });
    expect([...read.tensors.keys()]).toEqual(['b', 'w']);
    expect([...read.tensors.get('w')!.data]).toEqual([1, 2, 3, 4]);
    expect(readdirSync(ckpt).sort()).toEqual(['config.json', 'model.safetensors']);
  });

  function expectUserError(fn: () => unknown, path: string, pattern: RegExp): void {
    let caught: unknown;
    try {
      fn();
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(UserError);
    expect((caught as UserError).message).toMatch(pattern);
    expect((caught as UserError).message.startsWith(`${path}: `)).toBe(true);
    expect((caught as UserError).message).not.toContain('\n');
  }

  it('reports missing directories and files, and invalid config JSON', () => {
    const missing = join(dir, 'nope');
    expectUserError(() => readCheckpoint(missing), missing, /checkpoint directory does not exist/);

    const config = join(dir, 'config.json');
    expectUserError(() => readCheckpoint(dir), config, /file not found/);

    writeFileSync(config, '{"model_type":\n');
    expectUserError(() => readCheckpoint(dir), config, /invalid JSON/);

    writeFileSync(config, '[1]');
    expectUserError(() => readCheckpoint(dir), config, /expected a JSON object/);

    writeFileSync(config, '{}');
    const weights = join(dir, 'model.safetensors');
    expectUserError(() => readCheckpoint(dir), weights, /file not found/);

    writeFileSync(weights, Buffer.alloc(3));
    expectUserError(() => readCheckpoint(dir), weights, /shorter than the 8-byte/);

    expectUserError(() => sha256File(missing), missing, /file not found/);
  });

  it('writeFileAtomic replaces content and leaves no temp files', () => {
    const file = join(dir, 'state.json');
    writeFileAtomic(file, 'first, and longer than the second');
    writeFileAtomic(file, new Uint8Array([0x6f, 0x6b]));
    expect(readFileSync(file, 'utf8')).toBe('ok');
    expect(readdirSync(dir)).toEqual(['state.json']);
  });

  it('writeFileAtomic removes its temp file when the rename fails', () => {
    const target = join(dir, 'occupied');
    mkdirSync(target);
    writeFileSync(join(target, 'child'), '');
    expect(() => writeFileAtomic(target, 'x')).toThrow();
    expect(readdirSync(dir)).toEqual(['occupied']);
  });

  it('appendLineDurable appends whole lines', () => {
    const file = join(dir, 'rounds.jsonl');
    appendLineDurable(file, '{"round":1}');
    appendLineDurable(file, '{"round":2}');
    expect(readFileSync(file, 'utf8')).toBe('{"round":1}\n{"round":2}\n');
    expect(() => appendLineDurable(file, 'a\nb')).toThrow(/newline/);
  });
});
