import { copyRows, KernelModule, type CopyRows } from './kernel-module.js';
import { I32, inc, nextWhileBelow, op, V128, type Code, type FuncDef, type ValType } from './wasm-asm.js';

/**
 * out[c] = sum over r of x[r, c]: tfjs's Sum over leading axes (every bias gradient). The wasm
 * backend first transposes the reduced axes innermost, then adds each output's terms in order
 * from 0; this kernel adds the same terms in the same order, 16 columns at a time, without
 * the transpose.
 */

const VECS = 4;
const COLS = 4 * VECS;

const { get, set, i32 } = op;

/** columnSum(src, dst, rows, cols): cols a multiple of 16, byte pointers. */
function kernel(): FuncDef {
  const [SRC, DST, ROWS, COLS_P] = [0, 1, 2, 3];
  const [C0, R, P, ROW] = [4, 5, 6, 7];
  const ACC = Array.from({ length: VECS }, (_, h) => 8 + h);
  const H = Array.from({ length: VECS }, (_, h) => h);
  return {
    name: 'columnSum',
    params: [I32, I32, I32, I32],
    locals: [I32, I32, I32, I32, ...ACC.map((): ValType => V128)],
    body: [
      get(COLS_P), i32(4), op.i32Mul, set(ROW),
      i32(0), set(C0),
      op.loop([
        ...ACC.map((a): Code => [op.v128Zero, set(a)]),
        get(SRC), get(C0), i32(4), op.i32Mul, op.i32Add, set(P),
        i32(0), set(R),
        op.loop([
          H.map((h): Code => [get(ACC[h] as number), get(P), op.v128Load(16 * h), op.f32x4Add, set(ACC[h] as number)]),
          inc(P, get(ROW)),
          nextWhileBelow(R, i32(1), get(ROWS)),
        ]),
        H.map((h): Code => [get(DST), get(C0), i32(4), op.i32Mul, op.i32Add, get(ACC[h] as number), op.v128Store(16 * h)]),
        nextWhileBelow(C0, i32(COLS), get(COLS_P)),
      ]),
    ],
  };
}

export class ColumnSum {
  private readonly module = new KernelModule([kernel(), copyRows()]);
  private readonly run: (src: number, dst: number, rows: number, cols: number) => void = this.module.func('columnSum');
  private readonly copy: CopyRows = this.module.func('copyRows');

  /** out (cols) = column sums of x (rows x cols, row-major float32). */
  sum(x: Float32Array, out: Float32Array, rows: number, cols: number): void {
    if (rows < 1 || cols < 1) throw new Error(`columnSum: empty shape [${rows}, ${cols}]`);
    if (x.length !== rows * cols || out.length !== cols) throw new Error('columnSum: operand sizes do not match the shape');
    const cp = Math.ceil(cols / COLS) * COLS;
    // Byte layout: padded x, the sums, then x as given when it needs padding.
    const sums = rows * cp * 4;
    const stage = sums + cp * 4;
    const heap = this.module.heap(stage + (cp === cols ? 0 : x.length * 4));
    if (cp === cols) {
      heap.set(x, 0);
    } else {
      heap.set(x, stage / 4);
      this.copy(stage, cols * 4, 0, cp * 4, rows, cols * 4);
    }
    this.run(0, sums, rows, cp);
    out.set(heap.subarray(sums / 4, sums / 4 + cols));
  }
}
