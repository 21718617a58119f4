import { KernelModule } from './kernel-module.js';
import { I32, op, type Code, type FuncDef } from './wasm-asm.js';

/**
 * out[t] = x[t]^T for a batch of row-major float32 matrices: the transposes the wasm
 * BatchMatMul fix materialises before every backward product. tfjs's wasm Transpose walks a
 * general permutation at about 3 ns per element; this loop only swaps the last two axes.
 */

const { get, set, i32 } = op;
const inc = (x: number, by: number): Code => [get(x), get(by), op.i32Add, set(x)];

/** Rows per block: a block's column of outputs is one contiguous 64-byte run of dst. */
const BLOCK = 16;

/** transposeLast(src, dst, batch, rows, cols): byte pointers; dst gets batch x cols x rows. */
function kernel(): FuncDef {
  const [SRC, DST, BATCH, ROWS, COLS] = [0, 1, 2, 3, 4];
  const [T, R0, R_END, C, R, PS, PD, SRC_ROW, DST_ROW, FOUR, MATRIX] = [5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15];
  return {
    name: 'transposeLast',
    params: [I32, I32, I32, I32, I32],
    locals: new Array<typeof I32>(11).fill(I32),
    body: [
      get(COLS), i32(4), op.i32Mul, set(SRC_ROW),
      get(ROWS), i32(4), op.i32Mul, set(DST_ROW),
      get(ROWS), get(SRC_ROW), op.i32Mul, set(MATRIX),
      i32(4), set(FOUR),
      i32(0), set(T),
      op.loop([
        i32(0), set(R0),
        op.loop([
          // rEnd = min(r0 + BLOCK, rows)
          get(R0), i32(BLOCK), op.i32Add, get(ROWS), get(R0), i32(BLOCK), op.i32Add, get(ROWS), op.i32LtU, op.select, set(R_END),
          i32(0), set(C),
          op.loop([
            // ps = src + r0 * srcRow + 4c; pd = dst + c * dstRow + 4 r0
            get(SRC), get(R0), get(SRC_ROW), op.i32Mul, op.i32Add, get(C), i32(4), op.i32Mul, op.i32Add, set(PS),
            get(DST), get(C), get(DST_ROW), op.i32Mul, op.i32Add, get(R0), i32(4), op.i32Mul, op.i32Add, set(PD),
            get(R0), set(R),
            op.loop([
              get(PD), get(PS), op.f32Load(), op.f32Store(),
              inc(PS, SRC_ROW), inc(PD, FOUR),
              get(R), i32(1), op.i32Add, set(R), get(R), get(R_END), op.i32LtU, op.brIf(0),
            ]),
            get(C), i32(1), op.i32Add, set(C), get(C), get(COLS), op.i32LtU, op.brIf(0),
          ]),
          get(R0), i32(BLOCK), op.i32Add, set(R0), get(R0), get(ROWS), op.i32LtU, op.brIf(0),
        ]),
        inc(SRC, MATRIX), inc(DST, MATRIX),
        get(T), i32(1), op.i32Add, set(T), get(T), get(BATCH), op.i32LtU, op.brIf(0),
      ]),
    ],
  };
}

export class TransposeLast {
  private readonly module = new KernelModule([kernel()]);
  private readonly run: (src: number, dst: number, batch: number, rows: number, cols: number) => void = this.module.func('transposeLast');

  /** out (batch x cols x rows) = x (batch x rows x cols) with the last two axes swapped. */
  transpose(x: Float32Array, out: Float32Array, batch: number, rows: number, cols: number): void {
    const size = batch * rows * cols;
    if (size === 0) return;
    if (x.length !== size || out.length !== size) throw new Error('transposeLast: operand sizes do not match the shape');
    const heap = this.module.heap(2 * size * 4);
    heap.set(x, 0);
    this.run(0, size * 4, batch, rows, cols);
    out.set(heap.subarray(size, 2 * size));
  }
}
