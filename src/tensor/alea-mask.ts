import { KernelModule } from './kernel-module.js';
import { F32, F64, I32, I64, inc, nextWhileBelow, op, type FuncDef } from './wasm-asm.js';

/**
 * Dropout multipliers from seedrandom's alea sequence, as a wasm loop.
 *
 * Alea's step, t = 2091639 * s0 + c * 2^-32, c' = t | 0, s2' = t - c', is exact in doubles (the
 * states are multiples of 2^-32 and the numerator stays below 2^53), so it is the integer
 * multiply-with-carry X = 2091639 * X[-3] + C, C' = X >> 32, X' = X mod 2^32 with s = X / 2^32.
 * In JavaScript the carry goes through a multiply, an add and a double-to-int conversion each
 * step (about 14 ns a value here); in 64-bit integers it is an add and a shift. The multiplier
 * is floor(fround(s2') + keep) / keep in float32, as tf.dropout computes it, so the masks are
 * bit-identical (test/dropout.test.ts compares them with tf.dropout).
 */

const MULTIPLIER = 2091639;
const { get, set, i32 } = op;

/** dropoutMask(out, n, c, s0, s1, s2, keep, scale): n float32 multipliers at byte address out; the state as alea's doubles. */
function maskDef(): FuncDef {
  const [OUT, N, C0, S0, S1, S2, KEEP, SCALE] = [0, 1, 2, 3, 4, 5, 6, 7];
  const [I, C, X0, X1, X2, T] = [8, 9, 10, 11, 12, 13];
  const word = (s: number) => [get(s), op.f64(2 ** 32), op.f64Mul, op.i64TruncF64U];
  return {
    name: 'dropoutMask',
    params: [I32, I32, F64, F64, F64, F64, F32, F32],
    locals: [I32, I64, I64, I64, I64, I64],
    body: [
      get(C0), op.i64TruncF64U, set(C),
      word(S0), set(X0), word(S1), set(X1), word(S2), set(X2),
      i32(0), set(I),
      op.loop([
        get(X0), op.i64(MULTIPLIER), op.i64Mul, get(C), op.i64Add, set(T),
        get(T), op.i64(32), op.i64ShrU, set(C),
        get(X1), set(X0), get(X2), set(X1),
        get(T), op.i32WrapI64, op.i64ExtendI32U, set(X2),
        get(OUT),
        get(SCALE), op.f32(0),
        get(X2), op.f64ConvertI64U, op.f64(2 ** -32), op.f64Mul, op.f32DemoteF64, get(KEEP), op.f32Add, op.f32(1), op.f32Ge,
        op.select, op.f32Store(),
        inc(OUT, i32(4)),
        nextWhileBelow(I, i32(1), get(N)),
      ]),
    ],
  };
}

export interface AleaState {
  c: number;
  s0: number;
  s1: number;
  s2: number;
}

export class AleaMask {
  private readonly module = new KernelModule([maskDef()]);
  private readonly run: (out: number, n: number, c: number, s0: number, s1: number, s2: number, keep: number, scale: number) => void = this.module.func('dropoutMask');

  /** The next `size` multipliers (scale where fround(u) + keep >= 1, else 0) from alea in `state`. */
  multipliers(size: number, state: AleaState, keep: number, scale: number): Float32Array {
    const out = new Float32Array(size);
    if (size === 0) return out;
    const heap = this.module.heap(size * 4);
    this.run(0, size, state.c, state.s0, state.s1, state.s2, keep, scale);
    out.set(heap.subarray(0, size));
    return out;
  }
}
