import { copyRows, KernelModule, type CopyRows } from './kernel-module.js';
import { transposeLast } from './transpose-last.js';
import { I32, inc, nextWhileBelow, op, V128, type Code, type FuncDef, type ValType } from './wasm-asm.js';

/**
 * Batched matMul out[b] = op(A[b]) x op(B[b]) as a SIMD WebAssembly kernel, for every float32
 * product of the wasm backend (src/tensor/wasm/batch-mat-mul.ts).
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

function checkShape(batch: number, m: number, k: number, n: number): void {
  if (batch < 1 || m < 1 || k < 1 || n < 1) throw new Error(`batchedMatMul: empty shape [${batch}, ${m}, ${k}] x [${k}, ${n}]`);
  if (k >= UNBLOCKED) throw new Error(`batchedMatMul: shared dimension ${k} is too long`);
}

/** Scratch bytes in the kernel's memory: `reserve(bytes)` returns the address of at least that many, valid until the next call. */
export interface Scratch {
  reserve(bytes: number): number;
}

/** Byte addresses of the operands and the output in the kernel's memory. */
export interface Operands {
  a: number;
  b: number;
  out: number;
}

/**
 * The kernel over float32 matrices in a given WebAssembly memory (tfjs's wasm heap), where it
 * reads the operands and writes the product in place. Operands whose
 * rows or columns do not fill whole tiles, and transposed ones, are first laid out in scratch
 * memory with the rows and columns padded (padding only feeds outputs that are never copied
 * back), transposed on the way when asked; a padded product is copied out at the end.
 */
export class BatchedMatMul {
  private readonly run: (a: number, b: number, out: number, batch: number, m: number, k: number, n: number) => void;
  private readonly copy: CopyRows;
  private readonly transpose: (src: number, dst: number, batch: number, rows: number, cols: number, dstRow: number, dstMatrix: number) => void;

  constructor(private readonly tile: Tile, kBlock: number, memory: WebAssembly.Memory) {
    const module = new KernelModule([kernel(tile, kBlock), copyRows(), transposeLast()], memory);
    this.run = module.func('batchedMatMul');
    this.copy = module.func('copyRows');
    this.transpose = module.func('transposeLast');
  }

  /**
   * out (batch x m x n) = A (batch x m x k) x B (batch x k x n), all row-major float32 at byte
   * addresses of the kernel's memory. A transposed operand is stored with its last two axes
   * swapped: a as batch x k x m, b as batch x n x k.
   */
  matMulAt(at: Operands, scratch: Scratch, batch: number, m: number, k: number, n: number, transposeA = false, transposeB = false): void {
    checkShape(batch, m, k, n);
    const mp = roundUp(m, this.tile.rows);
    const np = roundUp(n, 4 * this.tile.vecs);
    const aInPlace = !transposeA && mp === m;
    const bInPlace = !transposeB && np === n;
    const outInPlace = mp === m && np === n;
    const aBytes = aInPlace ? 0 : batch * mp * k * 4;
    const bBytes = bInPlace ? 0 : batch * k * np * 4;
    const base = aBytes + bBytes + (outInPlace ? 0 : batch * mp * np * 4) > 0 ? scratch.reserve(aBytes + bBytes + (outInPlace ? 0 : batch * mp * np * 4)) : 0;
    const a = aInPlace ? at.a : base;
    const b = bInPlace ? at.b : base + aBytes;
    const out = outInPlace ? at.out : base + aBytes + bBytes;
    // A pads whole matrices (its rows are packed), B pads each row (its matrices are packed).
    if (transposeA) this.transpose(at.a, a, batch, k, m, k * 4, mp * k * 4);
    else if (!aInPlace) this.copy(at.a, m * k * 4, a, mp * k * 4, batch, m * k * 4);
    if (transposeB) this.transpose(at.b, b, batch, n, k, np * 4, k * np * 4);
    else if (!bInPlace) this.copy(at.b, n * 4, b, np * 4, batch * k, n * 4);
    this.run(a, b, out, batch, mp, k, np);
    if (outInPlace) return;
    if (mp === m) this.copy(out, np * 4, at.out, n * 4, batch * m, n * 4);
    else for (let t = 0; t < batch; t++) this.copy(out + t * mp * np * 4, np * 4, at.out + t * m * n * 4, n * 4, m, n * 4);
  }
}
