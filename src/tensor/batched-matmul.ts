import { copyRows, KernelModule, type CopyRows } from './kernel-module.js';
import { transposeLast } from './transpose-last.js';
import { I32, inc, nextWhileBelow, op, V128, type Code, type FuncDef, type ValType } from './wasm-asm.js';

/**
 * Batched matMul out[b] = op(A[b]) x op(B[b]) as a SIMD WebAssembly kernel, for every float32
 * product of the wasm backend (src/tensor/wasm-kernels.ts).
 *
 * The results of tfjs's own paths are the contract (every shipped model and reference run was
 * made with them), so the kernel keeps their exact arithmetic: each output is a float32 sum
 * over k in order, either in one run (XNNPACK's GEMM, tfjs's path for 2-D products) or
 * restarted every 48 terms and added to the output block by block (tfjs's scalar loop, its
 * path when both operands are batched). The speed comes from computing a tile of outputs at
 * once (SIMD across columns, A values reused across the tile's columns and B vectors across
 * its rows), never from reordering a sum.
 */

/** tfjs's kBlockSize: its scalar loop restarts partial sums over k at every multiple of it. */
export const K_BLOCK = 48;
/** One run over all of k, as XNNPACK's GEMM sums (its path for 2-D products). */
export const UNBLOCKED = 2 ** 30;

/** Output tile: `rows` rows x 4 * `vecs` columns, one v128 accumulator per 4 outputs. */
export interface Tile {
  rows: number;
  vecs: number;
}

/** Fastest measured on the project's 2-core x86 machine (V8 keeps 16 SIMD registers). */
export const DEFAULT_TILE: Tile = { rows: 4, vecs: 2 };

const { get, set, i32 } = op;
const add = (x: number, y: Code): Code => [get(x), y, op.i32Add];

function kernel({ rows, vecs }: Tile, kBlock = K_BLOCK): FuncDef {
  // Locals: the 7 params, then i32 scratch (pointers in bytes), then v128 registers.
  const [A, B, OUT, BATCH, M, K, N] = [0, 1, 2, 3, 4, 5, 6];
  const SCRATCH = ['bt', 'i', 'j', 'k0', 'k', 'kEnd', 'pa', 'pb', 'po', 'rowA', 'rowB', 'aBatch', 'bBatch', 'oBatch', 'aBase', 'bBase', 'oBase'] as const;
  const L = Object.fromEntries(SCRATCH.map((name, i) => [name, 7 + i])) as Record<(typeof SCRATCH)[number], number>;
  /** Byte offsets of tile rows 1 .. rows - 1 in A and in the output. */
  const aRowOff = Array.from({ length: rows }, (_, r) => 7 + SCRATCH.length + r);
  const oRowOff = Array.from({ length: rows }, (_, r) => 7 + SCRATCH.length + rows + r);
  const V = 7 + SCRATCH.length + 2 * rows;
  /** Partial sums: tile row r, columns 4h .. 4h + 3 in S[r * vecs + h]. */
  const S = Array.from({ length: rows * vecs }, (_, i) => V + i);
  const VB = Array.from({ length: vecs }, (_, h) => V + rows * vecs + h);
  const VA = V + rows * vecs + vecs;
  const sum = (r: number, h: number): number => S[r * vecs + h] as number;
  const at = (base: number, off: number[], r: number): Code => (r === 0 ? get(base) : add(base, get(off[r] as number)));
  const R = Array.from({ length: rows }, (_, r) => r);
  const H = Array.from({ length: vecs }, (_, h) => h);

  /** One k step: `vecs` B vectors, `rows` splatted A values, rows x vecs multiply-adds. */
  const kStep: Code[] = [
    ...H.map((h): Code => [get(L.pb), op.v128Load(16 * h), set(VB[h] as number)]),
    ...R.map((r): Code => [
      at(L.pa, aRowOff, r), op.f32Load(), op.f32x4Splat, set(VA),
      H.map((h): Code => [get(sum(r, h)), get(VA), get(VB[h] as number), op.f32x4Mul, op.f32x4Add, set(sum(r, h))]),
    ]),
  ];
  /** The first k block stores its sums; later blocks add theirs to what is stored (current + sum). */
  const storeTile = (accumulate: boolean): Code[] =>
    R.flatMap((r) =>
      H.map((h): Code => [at(L.po, oRowOff, r), accumulate ? [at(L.po, oRowOff, r), op.v128Load(16 * h), get(sum(r, h)), op.f32x4Add] : get(sum(r, h)), op.v128Store(16 * h)]),
    );

  const body: Code[] = [
    [get(K), i32(4), op.i32Mul, set(L.rowA)],
    [get(N), i32(4), op.i32Mul, set(L.rowB)],
    R.map((r): Code => [get(L.rowA), i32(r), op.i32Mul, set(aRowOff[r] as number), get(L.rowB), i32(r), op.i32Mul, set(oRowOff[r] as number)]),
    [get(M), get(L.rowA), op.i32Mul, set(L.aBatch)],
    [get(K), get(L.rowB), op.i32Mul, set(L.bBatch)],
    [get(M), get(L.rowB), op.i32Mul, set(L.oBatch)],
    [get(A), set(L.aBase), get(B), set(L.bBase), get(OUT), set(L.oBase), i32(0), set(L.bt)],
    op.loop([
      i32(0), set(L.i),
      op.loop([
        i32(0), set(L.j),
        op.loop([
          i32(0), set(L.k0),
          op.loop([
            // kEnd = min(k0 + 48, K)
            get(L.k0), i32(kBlock), op.i32Add, get(K), get(L.k0), i32(kBlock), op.i32Add, get(K), op.i32LtU, op.select, set(L.kEnd),
            ...S.map((x): Code => [op.v128Zero, set(x)]),
            [get(L.aBase), get(L.i), get(L.rowA), op.i32Mul, op.i32Add, get(L.k0), i32(4), op.i32Mul, op.i32Add, set(L.pa)],
            [get(L.bBase), get(L.k0), get(L.rowB), op.i32Mul, op.i32Add, get(L.j), i32(4), op.i32Mul, op.i32Add, set(L.pb)],
            get(L.k0), set(L.k),
            op.loop([...kStep, inc(L.pa, i32(4)), inc(L.pb, get(L.rowB)), nextWhileBelow(L.k, i32(1), get(L.kEnd))]),
            [get(L.oBase), get(L.i), get(L.rowB), op.i32Mul, op.i32Add, get(L.j), i32(4), op.i32Mul, op.i32Add, set(L.po)],
            get(L.k0), op.i32Eqz, op.if(storeTile(false), storeTile(true)),
            nextWhileBelow(L.k0, i32(kBlock), get(K)),
          ]),
          nextWhileBelow(L.j, i32(4 * vecs), get(N)),
        ]),
        nextWhileBelow(L.i, i32(rows), get(M)),
      ]),
      inc(L.aBase, get(L.aBatch)), inc(L.bBase, get(L.bBatch)), inc(L.oBase, get(L.oBatch)),
      nextWhileBelow(L.bt, i32(1), get(BATCH)),
    ]),
  ];
  return {
    name: 'batchedMatMul',
    params: [I32, I32, I32, I32, I32, I32, I32],
    locals: [...SCRATCH.map((): ValType => I32), ...aRowOff.map((): ValType => I32), ...oRowOff.map((): ValType => I32), ...[...S, ...VB, VA].map((): ValType => V128)],
    body,
  };
}

const roundUp = (x: number, m: number): number => Math.ceil(x / m) * m;

/**
 * The kernel with its own memory. Operands are copied in with rows and columns padded to the
 * tile (padding only feeds outputs that are never copied back), transposed on the way in when
 * asked, and the result is copied out.
 */
export class BatchedMatMul {
  private readonly module: KernelModule;
  private readonly run: (a: number, b: number, out: number, batch: number, m: number, k: number, n: number) => void;
  private readonly copy: CopyRows;
  private readonly transpose: (src: number, dst: number, batch: number, rows: number, cols: number, dstRow: number, dstMatrix: number) => void;

  constructor(private readonly tile: Tile = DEFAULT_TILE, kBlock = K_BLOCK) {
    this.module = new KernelModule([kernel(tile, kBlock), copyRows(), transposeLast()]);
    this.run = this.module.func('batchedMatMul');
    this.copy = this.module.func('copyRows');
    this.transpose = this.module.func('transposeLast');
  }

  /**
   * out (batch x m x n) = A (batch x m x k) x B (batch x k x n), all row-major float32. A
   * transposed operand is stored with its last two axes swapped: a as batch x k x m, b as
   * batch x n x k.
   */
  matMul(a: Float32Array, b: Float32Array, out: Float32Array, batch: number, m: number, k: number, n: number, transposeA = false, transposeB = false): void {
    if (batch < 1 || m < 1 || k < 1 || n < 1) throw new Error(`batchedMatMul: empty shape [${batch}, ${m}, ${k}] x [${k}, ${n}]`);
    if (k >= UNBLOCKED) throw new Error(`batchedMatMul: shared dimension ${k} is too long`);
    if (a.length !== batch * m * k || b.length !== batch * k * n || out.length !== batch * m * n) throw new Error('batchedMatMul: operand sizes do not match the shape');
    const mp = roundUp(m, this.tile.rows);
    const np = roundUp(n, 4 * this.tile.vecs);
    // Byte layout: padded A, padded B, padded output, then a staging area for data as given.
    const aOff = 0;
    const bOff = aOff + batch * mp * k * 4;
    const outOff = bOff + batch * k * np * 4;
    const stage = outOff + batch * mp * np * 4;
    const heap = this.module.heap(stage + Math.max(a.length, b.length, out.length) * 4);
    /**
     * x (batch matrices of rows x cols, or cols x rows when transposed) into rows `stride`
     * bytes apart and matrices `matrix` bytes apart. A pads whole matrices (rows are packed), B
     * pads each row (matrices are packed); a transposed operand is padded as it is transposed.
     */
    const put = (x: Float32Array, at: number, transposed: boolean, rows: number, cols: number, stride: number, matrix: number) => {
      const packedRows = cols * 4 === stride;
      const packedMatrices = matrix === rows * stride;
      if (!transposed && packedRows && packedMatrices) return heap.set(x, at / 4);
      heap.set(x, stage / 4);
      if (transposed) this.transpose(stage, at, batch, cols, rows, stride, matrix);
      else if (packedMatrices) this.copy(stage, cols * 4, at, stride, batch * rows, cols * 4);
      else this.copy(stage, rows * cols * 4, at, matrix, batch, rows * cols * 4);
    };
    put(a, aOff, transposeA, m, k, k * 4, mp * k * 4);
    put(b, bOff, transposeB, k, n, np * 4, k * np * 4);
    this.run(aOff, bOff, outOff, batch, mp, k, np);
    if (mp === m && np === n) {
      out.set(heap.subarray(outOff / 4, outOff / 4 + out.length));
      return;
    }
    if (mp === m) this.copy(outOff, np * 4, stage, n * 4, batch * m, n * 4);
    else for (let t = 0; t < batch; t++) this.copy(outOff + t * mp * np * 4, np * 4, stage + t * m * n * 4, n * 4, m, n * 4);
    out.set(heap.subarray(stage / 4, stage / 4 + out.length));
  }
}
