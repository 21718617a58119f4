/**
 * A minimal WebAssembly binary writer: just what the project's hand-written kernels use
 * (i32 and i64 integer ops, scalar f32 and f64 arithmetic, f32, f64, i64 and v128 loads and
 * stores, SIMD float, integer and lane ops, memory.copy, blocks, loops, calls and returns).
 * Kernels are built in code at load time, so there is no toolchain, build step or binary file;
 * the opcodes are those of the WebAssembly 2.0 specification (SIMD: its 0xfd prefix).
 */

export const I32 = 0x7f;
export const I64 = 0x7e;
export const F32 = 0x7d;
export const F64 = 0x7c;
export const V128 = 0x7b;
export type ValType = typeof I32 | typeof I64 | typeof F32 | typeof F64 | typeof V128;

/** One instruction's bytes, or a sequence of them; nested arrays are flattened. */
export type Code = number | Code[];

export function uleb(n: number): number[] {
  if (!Number.isInteger(n) || n < 0) throw new Error(`uleb: ${n} is not a non-negative integer`);
  const out: number[] = [];
  do {
    let byte = n & 0x7f;
    n = Math.floor(n / 128);
    if (n > 0) byte |= 0x80;
    out.push(byte);
  } while (n > 0);
  return out;
}

export function sleb(n: number): number[] {
  if (!Number.isInteger(n)) throw new Error(`sleb: ${n} is not an integer`);
  const out: number[] = [];
  for (;;) {
    const byte = n & 0x7f;
    n >>= 7;
    const done = (n === 0 && (byte & 0x40) === 0) || (n === -1 && (byte & 0x40) !== 0);
    out.push(done ? byte : byte | 0x80);
    if (done) return out;
  }
}

function flat(code: Code): number[] {
  const out: number[] = [];
  const walk = (c: Code): void => {
    if (typeof c === 'number') out.push(c);
    else for (const x of c) walk(x);
  };
  walk(code);
  return out;
}

const simd = (op: number): number[] => [0xfd, ...uleb(op)];
const f32Bytes = (v: number): number[] => [...new Uint8Array(new Float32Array([v]).buffer)];
const f64Bytes = (v: number): number[] => [...new Uint8Array(new Float64Array([v]).buffer)];
/** memarg: log2 alignment, then byte offset. */
const mem = (align: number, offset: number): number[] => [...uleb(align), ...uleb(offset)];

/** Instructions, named as in the text format. */
export const op = {
  block: (body: Code[]): Code => [0x02, 0x40, body, 0x0b],
  loop: (body: Code[]): Code => [0x03, 0x40, body, 0x0b],
  if: (then: Code[], otherwise: Code[] = []): Code => [0x04, 0x40, then, otherwise.length > 0 ? [0x05, otherwise] : [], 0x0b],
  br: (depth: number): Code => [0x0c, ...uleb(depth)],
  brIf: (depth: number): Code => [0x0d, ...uleb(depth)],
  return: 0x0f,
  call: (func: number): Code => [0x10, ...uleb(func)],
  get: (local: number): Code => [0x20, ...uleb(local)],
  set: (local: number): Code => [0x21, ...uleb(local)],
  i32: (value: number): Code => [0x41, ...sleb(value)],
  i64: (value: number): Code => [0x42, ...sleb(value)],
  /** The float32 nearest to `value` (as Math.fround rounds it). */
  f32: (value: number): Code => [0x43, ...f32Bytes(value)],
  f64: (value: number): Code => [0x44, ...f64Bytes(value)],
  /** [a, b, cond] -> cond ? a : b */
  select: 0x1b,
  i32Eqz: 0x45,
  i32Eq: 0x46,
  i32LtU: 0x49,
  i32GtU: 0x4b,
  i32GeU: 0x4f,
  i32Add: 0x6a,
  i32Sub: 0x6b,
  i32Mul: 0x6c,
  i32And: 0x71,
  i32Shl: 0x74,
  i32ShrU: 0x76,
  i64And: 0x83,
  i64Mul: 0x7e,
  i64ShrU: 0x88,
  i64Add: 0x7c,
  i64Shl: 0x86,
  i32WrapI64: 0xa7,
  i64ExtendI32U: 0xad,
  f32Lt: 0x5d,
  f32Gt: 0x5e,
  f32Ge: 0x60,
  f32Abs: 0x8b,
  f32Neg: 0x8c,
  f32Add: 0x92,
  f32Sub: 0x93,
  f32Mul: 0x94,
  f32Div: 0x95,
  f64Add: 0xa0,
  f64Sub: 0xa1,
  f64Mul: 0xa2,
  f32ConvertI32S: 0xb2,
  i64TruncF64U: 0xb1,
  f64ConvertI64U: 0xba,
  f32DemoteF64: 0xb6,
  f64PromoteF32: 0xbb,
  i32ReinterpretF32: 0xbc,
  i64ReinterpretF64: 0xbd,
  f32ReinterpretI32: 0xbe,
  f64ReinterpretI64: 0xbf,
  i64Load: (offset = 0): Code => [0x29, ...mem(3, offset)],
  f32Load: (offset = 0): Code => [0x2a, ...mem(2, offset)],
  f32Store: (offset = 0): Code => [0x38, ...mem(2, offset)],
  v128Load: (offset = 0): Code => [...simd(0x00), ...mem(2, offset)],
  v128Store: (offset = 0): Code => [...simd(0x0b), ...mem(2, offset)],
  /** [dst, src, bytes] -> (bulk memory) */
  memoryCopy: [0xfc, ...uleb(10), 0x00, 0x00] as Code,
  v128Zero: [...simd(0x0c), ...new Array<number>(16).fill(0)] as Code,
  /** Four copies of the float32 nearest to `value`. */
  f32x4Const: (value: number): Code => [...simd(0x0c), ...f32Bytes(value), ...f32Bytes(value), ...f32Bytes(value), ...f32Bytes(value)],
  f64x2Const: (value: number): Code => [...simd(0x0c), ...f64Bytes(value), ...f64Bytes(value)],
  i32x4Const: (value: number): Code => [...simd(0x0c), ...new Array<number[]>(4).fill([...new Uint8Array(new Int32Array([value]).buffer)]).flat()],
  /** Bytes of a then b, picked by 16 indexes (0-15: a, 16-31: b). */
  i8x16Shuffle: (lanes: number[]): Code => [...simd(0x0d), ...lanes],
  f32x4Splat: simd(0x13) as Code,
  i64x2ExtractLane: (lane: number): Code => [...simd(0x1d), lane],
  i64x2ReplaceLane: (lane: number): Code => [...simd(0x1e), lane],
  f32x4ExtractLane: (lane: number): Code => [...simd(0x1f), lane],
  f32x4ReplaceLane: (lane: number): Code => [...simd(0x20), lane],
  i64x2Splat: simd(0x12) as Code,
  i32x4LtU: simd(0x3a) as Code,
  i32x4GeU: simd(0x40) as Code,
  v128And: simd(0x4e) as Code,
  v128Or: simd(0x50) as Code,
  /** [a, b, mask] -> a where mask bits are set, else b */
  v128Bitselect: simd(0x52) as Code,
  v128AnyTrue: simd(0x53) as Code,
  i32x4AllTrue: simd(0xa3) as Code,
  i32x4Bitmask: simd(0xa4) as Code,
  f32x4DemoteF64x2Zero: simd(0x5e) as Code,
  f64x2PromoteLowF32x4: simd(0x5f) as Code,
  i64x2Shl: simd(0xcb) as Code,
  i64x2Add: simd(0xce) as Code,
  f32x4Abs: simd(0xe0) as Code,
  f32x4Neg: simd(0xe1) as Code,
  f32x4Add: simd(0xe4) as Code,
  f32x4Sub: simd(0xe5) as Code,
  f32x4Mul: simd(0xe6) as Code,
  f32x4Div: simd(0xe7) as Code,
  f64x2Add: simd(0xf0) as Code,
  f64x2Sub: simd(0xf1) as Code,
  f64x2Mul: simd(0xf2) as Code,
  f64x2Splat: simd(0x14) as Code,
};

/** local += step (an i32 expression). */
export function inc(local: number, step: Code): Code {
  return [op.get(local), step, op.i32Add, op.set(local)];
}

/** The tail of a do-while loop: local += step, then loop again while local < limit (unsigned). */
export function nextWhileBelow(local: number, step: Code, limit: Code): Code {
  return [inc(local, step), op.get(local), limit, op.i32LtU, op.brIf(0)];
}

export interface FuncDef {
  name: string;
  params: ValType[];
  /** At most one result in the binary's MVP form; none when absent. */
  results?: ValType[];
  /** Extra locals, numbered after the params. */
  locals: ValType[];
  body: Code[];
}

function section(id: number, payload: number[]): number[] {
  return [id, ...uleb(payload.length), ...payload];
}

function vec(items: number[][]): number[] {
  return [...uleb(items.length), ...items.flat()];
}

function name(s: string): number[] {
  const bytes = [...Buffer.from(s, 'utf8')];
  return [...uleb(bytes.length), ...bytes];
}

/**
 * A module with the given functions, all exported; `op.call(i)` calls the i-th of `funcs`.
 * Its memory is its own (exported as "memory", `pages` of 64 KiB), or, with `importMemory`,
 * one imported as env.memory, so that kernels can work in place in another module's heap.
 */
export function assembleModule(funcs: FuncDef[], pages: number, importMemory = false): Uint8Array<ArrayBuffer> {
  const types = funcs.map((f) => [0x60, ...vec(f.params.map((p) => [p])), ...vec((f.results ?? []).map((r) => [r]))]);
  const bodies = funcs.map((f) => {
    // Locals in runs of one type each, as the binary format groups them.
    const runs: number[][] = [];
    for (const t of f.locals) {
      const last = runs[runs.length - 1];
      if (last && last[1] === t) last[0] = (last[0] as number) + 1;
      else runs.push([1, t]);
    }
    const body = [...vec(runs.map(([count, t]) => [...uleb(count as number), t as number])), ...flat(f.body), 0x0b];
    return [...uleb(body.length), ...body];
  });
  const exports = funcs.map((f, i) => [...name(f.name), 0x00, ...uleb(i)]);
  return new Uint8Array([
    0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00,
    ...section(1, vec(types)),
    ...(importMemory ? section(2, vec([[...name('env'), ...name('memory'), 0x02, 0x00, ...uleb(pages)]])) : []),
    ...section(3, vec(funcs.map((_, i) => uleb(i)))),
    ...(importMemory ? [] : section(5, vec([[0x00, ...uleb(pages)]]))),
    ...section(7, vec(importMemory ? exports : [...exports, [...name('memory'), 0x02, 0x00]])),
    ...section(10, vec(bodies)),
  ]);
}
