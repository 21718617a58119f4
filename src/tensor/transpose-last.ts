import { I32, inc, nextWhileBelow, op, type FuncDef } from './wasm-asm.js';

/**
 * transposeLast(src, dst, batch, rows, cols, dstRow, dstMatrix): dst[t][c][r] = src[t][r][c]
 * for a batch of row-major float32 matrices, writing each output row dstRow bytes apart and
 * each matrix dstMatrix bytes apart, so that a transposed operand lands straight in the padded
 * layout the matMul kernel reads. tfjs's general wasm Transpose took 2-9 ns per element; this
 * blocked loop about 0.6-0.8.
 */

const { get, set, i32 } = op;

/** Rows per block: a block's column of outputs is one contiguous 64-byte run of dst. */
const BLOCK = 16;

export function transposeLast(): FuncDef {
  const [SRC, DST, BATCH, ROWS, COLS, DST_ROW, DST_MATRIX] = [0, 1, 2, 3, 4, 5, 6];
  const [T, R0, R_END, C, R, PS, PD, SRC_ROW] = [7, 8, 9, 10, 11, 12, 13, 14];
  return {
    name: 'transposeLast',
    params: [I32, I32, I32, I32, I32, I32, I32],
    locals: new Array<typeof I32>(8).fill(I32),
    body: [
      get(COLS), i32(4), op.i32Mul, set(SRC_ROW),
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
            op.loop([get(PD), get(PS), op.f32Load(), op.f32Store(), inc(PS, get(SRC_ROW)), inc(PD, i32(4)), nextWhileBelow(R, i32(1), get(R_END))]),
            nextWhileBelow(C, i32(1), get(COLS)),
          ]),
          nextWhileBelow(R0, i32(BLOCK), get(ROWS)),
        ]),
        inc(SRC, [get(ROWS), get(SRC_ROW), op.i32Mul]), inc(DST, get(DST_MATRIX)),
        nextWhileBelow(T, i32(1), get(BATCH)),
      ]),
    ],
  };
}
