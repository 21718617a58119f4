/**
 * A minimal WebAssembly binary writer: just what the project's hand-written kernels use
 * (i32 arithmetic, f32 and v128 loads and stores, four SIMD float ops, memory.copy, blocks
 * and loops).
 * Kernels are built in code at load time, so there is no toolchain, build step or binary file;
 * the opcodes are those of the WebAssembly 2.0 specification (SIMD: its 0xfd prefix).
 */

export const I32 = 0x7f;
export const F32 = 0x7d;
export const V128 = 0x7b;
export type ValType = typeof I32 | typeof F32 | typeof V128;

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
/** memarg: log2 alignment, then byte offset. */
const mem = (align: number, offset: number): number[] => [...uleb(align), ...uleb(offset)];

/** Instructions, named as in the text format. */
export const op = {
  block: (body: Code[]): Code => [0x02, 0x40, body, 0x0b],
  loop: (body: Code[]): Code => [0x03, 0x40, body, 0x0b],
  if: (then: Code[], otherwise: Code[] = []): Code => [0x04, 0x40, then, otherwise.length > 0 ? [0x05, otherwise] : [], 0x0b],
  br: (depth: number): Code => [0x0c, ...uleb(depth)],
  brIf: (depth: number): Code => [0x0d, ...uleb(depth)],
  get: (local: number): Code => [0x20, ...uleb(local)],
  set: (local: number): Code => [0x21, ...uleb(local)],
  i32: (value: number): Code => [0x41, ...sleb(value)],
  /** [a, b, cond] -> cond ? a : b */
  select: 0x1b,
  i32Eqz: 0x45,
  i32LtU: 0x49,
  i32Add: 0x6a,
  i32Mul: 0x6c,
  f32Load: (offset = 0): Code => [0x2a, ...mem(2, offset)],
  f32Store: (offset = 0): Code => [0x38, ...mem(2, offset)],
  v128Load: (offset = 0): Code => [...simd(0x00), ...mem(2, offset)],
  v128Store: (offset = 0): Code => [...simd(0x0b), ...mem(2, offset)],
  /** [dst, src, bytes] -> (bulk memory) */
  memoryCopy: [0xfc, ...uleb(10), 0x00, 0x00] as Code,
  v128Zero: [...simd(0x0c), ...new Array<number>(16).fill(0)] as Code,
  f32x4Splat: simd(0x13) as Code,
  f32x4Add: simd(0xe4) as Code,
  f32x4Mul: simd(0xe6) as Code,
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

/** A module with its own memory (exported as "memory", `pages` of 64 KiB) and the given functions, all exported. */
export function assembleModule(funcs: FuncDef[], pages: number): Uint8Array<ArrayBuffer> {
  const types = funcs.map((f) => [0x60, ...vec(f.params.map((p) => [p])), 0x00]);
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
  return new Uint8Array([
    0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00,
    ...section(1, vec(types)),
    ...section(3, vec(funcs.map((_, i) => uleb(i)))),
    ...section(5, vec([[0x00, ...uleb(pages)]])),
    ...section(7, vec([...funcs.map((f, i) => [...name(f.name), 0x00, ...uleb(i)]), [...name('memory'), 0x02, 0x00]])),
    ...section(10, vec(bodies)),
  ]);
}
