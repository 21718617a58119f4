import { KernelModule } from './kernel-module.js';
import { I32, inc, nextWhileBelow, op, type FuncDef } from './wasm-asm.js';

/**
 * Transpose of two neighbouring axes above the last, [outer, p, q, inner] -> [outer, q, p,
 * inner]: the attention's split and merge of heads ([b, t, h, d] <-> [b, h, t, d]). Each output
 * row of `inner` floats is one contiguous run of the input, so the kernel moves whole runs, 16
 * bytes at a time when inner is a multiple of 4, in place in the given memory; wasm's general
 * Transpose computes every element's position instead. Pure data movement: no value changes.
 */

const { get, set, i32 } = op;

/** swapAxes(src, dst, outer, p, q, innerBytes): byte addresses; innerBytes a positive multiple of 16 when `vectors`. */
function swapAxesDef(vectors: boolean): FuncDef {
  const [SRC, DST, OUTER, P, Q, INNER] = [0, 1, 2, 3, 4, 5];
  const [O, J, I, S, BASE, ROW, B] = [6, 7, 8, 9, 10, 11, 12];
  const move = vectors
    ? [i32(0), set(B), op.loop([
      get(DST), get(B), op.i32Add, get(S), get(B), op.i32Add, op.v128Load(), op.v128Store(),
      nextWhileBelow(B, i32(16), get(INNER)),
    ])]
    : [get(DST), get(S), get(INNER), op.memoryCopy];
  return {
    name: vectors ? 'swapAxesVectors' : 'swapAxes',
    params: [I32, I32, I32, I32, I32, I32],
    locals: [I32, I32, I32, I32, I32, I32, I32],
    body: [
      // ROW: bytes between consecutive i in the input (q runs of inner).
      get(Q), get(INNER), op.i32Mul, set(ROW),
      get(SRC), set(BASE),
      i32(0), set(O),
      op.loop([
        i32(0), set(J),
        op.loop([
          get(BASE), get(J), get(INNER), op.i32Mul, op.i32Add, set(S),
          i32(0), set(I),
          op.loop([
            move,
            inc(DST, get(INNER)), inc(S, get(ROW)),
            nextWhileBelow(I, i32(1), get(P)),
          ]),
          nextWhileBelow(J, i32(1), get(Q)),
        ]),
        get(P), get(ROW), op.i32Mul, set(S), inc(BASE, get(S)),
        nextWhileBelow(O, i32(1), get(OUTER)),
      ]),
    ],
  };
}

/** [outer, p, q, inner] of an axis swap, or null when `perm` is not a swap of two neighbouring axes above the last. */
export function planAxisSwap(shape: readonly number[], perm: readonly number[]): { outer: number; p: number; q: number; inner: number } | null {
  const rank = shape.length;
  if (perm.length !== rank) return null;
  let a = -1;
  for (let i = 0; i < rank; i++) {
    if (perm[i] === i) continue;
    if (a >= 0) {
      if (i !== a + 1 || perm[i] !== a) return null;
      continue;
    }
    if (perm[i] !== i + 1) return null;
    a = i;
  }
  if (a < 0 || a + 2 >= rank) return null;
  const prod = (from: number, to: number): number => shape.slice(from, to).reduce((x, d) => x * d, 1);
  return { outer: prod(0, a), p: shape[a] as number, q: shape[a + 1] as number, inner: prod(a + 2, rank) };
}

export class SwapAxes {
  private readonly vectors: (src: number, dst: number, outer: number, p: number, q: number, innerBytes: number) => void;
  private readonly runs: (src: number, dst: number, outer: number, p: number, q: number, innerBytes: number) => void;

  constructor(memory: WebAssembly.Memory) {
    const module = new KernelModule([swapAxesDef(true), swapAxesDef(false)], memory);
    this.vectors = module.func('swapAxesVectors');
    this.runs = module.func('swapAxes');
  }

  /** dst [outer, q, p, inner] = src [outer, p, q, inner] with its middle axes swapped; float32, byte addresses. */
  run(src: number, dst: number, outer: number, p: number, q: number, inner: number): void {
    if (outer < 1 || p < 1 || q < 1 || inner < 1) return;
    if (inner % 4 === 0) this.vectors(src, dst, outer, p, q, inner * 4);
    else this.runs(src, dst, outer, p, q, inner * 4);
  }
}
