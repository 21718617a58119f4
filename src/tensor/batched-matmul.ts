import { assembleModule, I32, op, V128, type Code, type FuncDef, type ValType } from './wasm-asm.js';

/**
 * Batched matMul out[b] = A[b] x B[b] where both operands carry the batch (attention scores
 * and context, and their gradients), as a SIMD WebAssembly kernel.
 *
 * tfjs's wasm backend runs this case in a scalar loop at about 2 GFLOP/s against about 17 for
 * its 2-D path. Its results are the contract (every shipped model and reference run was made
 * with them), so this kernel keeps its exact arithmetic: each output is a float32 sum over k in
 * order, restarted every 48 (tfjs's kBlockSize) and added to the output block by block. The
 * speed comes from doing 4 rows x 8 columns of outputs at once, never from reordering a sum.
 */

/** tfjs's kBlockSize: partial sums over k restart at every multiple of it. */
export const K_BLOCK = 48;
const ROWS = 4;
const COLS = 8;

// Locals: the 7 params, then i32 scratch (pointers in bytes), then v128 accumulators.
const [A, B, OUT, BATCH, M, K, N] = [0, 1, 2, 3, 4, 5, 6];
const SCRATCH = ['bt', 'i', 'j', 'k0', 'k', 'kEnd', 'pa', 'pb', 'po', 'rowA', 'rowB', 'aBatch', 'bBatch', 'oBatch', 'aBase', 'bBase', 'oBase', 'rowA2', 'rowA3'] as const;
const L = Object.fromEntries(SCRATCH.map((name, i) => [name, 7 + i])) as Record<(typeof SCRATCH)[number], number>;
const V = 7 + SCRATCH.length;
/** Partial sums of the 4 x 8 tile: row r, columns 4h .. 4h + 3 in S[2r + h]. */
const S = Array.from({ length: 8 }, (_, i) => V + i);
const [VA, VB0, VB1] = [V + 8, V + 9, V + 10];

const { get, set, i32 } = op;
const s = (r: number, half: number): number => S[2 * r + half] as number;
const add = (x: number, y: Code): Code => [get(x), y, op.i32Add];
const inc = (x: number, y: Code): Code => [add(x, y), set(x)];
/** Address of row r of the 4-row output tile. */
const rowAddr = (r: number): Code => (r === 0 ? get(L.po) : [get(L.po), get(L.rowB), i32(r), op.i32Mul, op.i32Add]);

/** One k step: two B vectors, four splatted A values, eight multiply-adds. */
const kStep: Code[] = [
  get(L.pb), op.v128Load(0), set(VB0),
  get(L.pb), op.v128Load(16), set(VB1),
  ...[0, 1, 2, 3].map((r): Code => [
    r === 0 ? get(L.pa) : add(L.pa, get([L.rowA, L.rowA, L.rowA2, L.rowA3][r] as number)),
    op.f32Load(), op.f32x4Splat, set(VA),
    [0, 1].map((h): Code => [get(s(r, h)), get(VA), get(h === 0 ? VB0 : VB1), op.f32x4Mul, op.f32x4Add, set(s(r, h))]),
  ]),
];

/** The first k block stores its sums; later blocks add theirs to what is stored (current + sum). */
const storeTile = (accumulate: boolean): Code[] =>
  [0, 1, 2, 3].flatMap((r) =>
    [0, 1].map((h): Code => [rowAddr(r), accumulate ? [rowAddr(r), op.v128Load(16 * h), get(s(r, h)), op.f32x4Add] : get(s(r, h)), op.v128Store(16 * h)]),
  );

const body: Code[] = [
  [get(K), i32(4), op.i32Mul, set(L.rowA)],
  [get(N), i32(4), op.i32Mul, set(L.rowB)],
  [get(L.rowA), i32(2), op.i32Mul, set(L.rowA2)],
  [get(L.rowA), i32(3), op.i32Mul, set(L.rowA3)],
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
          // kend = min(k0 + 48, K)
          get(L.k0), i32(K_BLOCK), op.i32Add, get(K), get(L.k0), i32(K_BLOCK), op.i32Add, get(K), op.i32LtU, op.select, set(L.kEnd),
          ...S.map((x): Code => [op.v128Zero, set(x)]),
          [get(L.aBase), get(L.i), get(L.rowA), op.i32Mul, op.i32Add, get(L.k0), i32(4), op.i32Mul, op.i32Add, set(L.pa)],
          [get(L.bBase), get(L.k0), get(L.rowB), op.i32Mul, op.i32Add, get(L.j), i32(4), op.i32Mul, op.i32Add, set(L.pb)],
          get(L.k0), set(L.k),
          op.loop([...kStep, inc(L.pa, i32(4)), inc(L.pb, get(L.rowB)), inc(L.k, i32(1)), get(L.k), get(L.kEnd), op.i32LtU, op.brIf(0)]),
          [get(L.oBase), get(L.i), get(L.rowB), op.i32Mul, op.i32Add, get(L.j), i32(4), op.i32Mul, op.i32Add, set(L.po)],
          get(L.k0), op.i32Eqz, op.if(storeTile(false), storeTile(true)),
          inc(L.k0, i32(K_BLOCK)), get(L.k0), get(K), op.i32LtU, op.brIf(0),
        ]),
        inc(L.j, i32(COLS)), get(L.j), get(N), op.i32LtU, op.brIf(0),
      ]),
      inc(L.i, i32(ROWS)), get(L.i), get(M), op.i32LtU, op.brIf(0),
    ]),
    inc(L.aBase, get(L.aBatch)), inc(L.bBase, get(L.bBatch)), inc(L.oBase, get(L.oBatch)),
    inc(L.bt, i32(1)), get(L.bt), get(BATCH), op.i32LtU, op.brIf(0),
  ]),
];

const KERNEL: FuncDef = {
  name: 'batchedMatMul',
  params: [I32, I32, I32, I32, I32, I32, I32],
  locals: [...SCRATCH.map((): ValType => I32), ...[...S, VA, VB0, VB1].map((): ValType => V128)],
  body,
};

const PAGE = 65536;
const roundUp = (x: number, m: number): number => Math.ceil(x / m) * m;

/**
 * The kernel with its own memory: operands are copied in with rows padded to 4 and columns to
 * 8 (padding only feeds outputs that are never copied back), and the result copied out.
 */
export class BatchedMatMul {
  private readonly memory: WebAssembly.Memory;
  private readonly run: (a: number, b: number, out: number, batch: number, m: number, k: number, n: number) => void;

  constructor() {
    const instance = new WebAssembly.Instance(new WebAssembly.Module(assembleModule([KERNEL], 1)));
    this.memory = instance.exports['memory'] as WebAssembly.Memory;
    this.run = instance.exports['batchedMatMul'] as BatchedMatMul['run'];
  }

  /** out (batch x m x n) = a (batch x m x k) x b (batch x k x n), all row-major float32. */
  matMul(a: Float32Array, b: Float32Array, out: Float32Array, batch: number, m: number, k: number, n: number): void {
    if (batch < 1 || m < 1 || k < 1 || n < 1) throw new Error(`batchedMatMul: empty shape [${batch}, ${m}, ${k}] x [${k}, ${n}]`);
    if (a.length !== batch * m * k || b.length !== batch * k * n || out.length !== batch * m * n) throw new Error('batchedMatMul: operand sizes do not match the shape');
    const mp = roundUp(m, ROWS);
    const np = roundUp(n, COLS);
    const aBytes = batch * mp * k * 4;
    const bBytes = batch * k * np * 4;
    const outBytes = batch * mp * np * 4;
    const need = aBytes + bBytes + outBytes;
    if (need > this.memory.buffer.byteLength) this.memory.grow(Math.ceil((need - this.memory.buffer.byteLength) / PAGE));
    const heap = new Float32Array(this.memory.buffer);
    const [aOff, bOff, outOff] = [0, aBytes / 4, (aBytes + bBytes) / 4];
    if (mp === m) heap.set(a, aOff);
    else for (let t = 0; t < batch; t++) heap.set(a.subarray(t * m * k, (t + 1) * m * k), aOff + t * mp * k);
    if (np === n) heap.set(b, bOff);
    else for (let row = 0; row < batch * k; row++) heap.set(b.subarray(row * n, (row + 1) * n), bOff + row * np);
    this.run(aOff * 4, bOff * 4, outOff * 4, batch, mp, k, np);
    for (let t = 0; t < batch; t++) {
      for (let i = 0; i < m; i++) {
        const src = outOff + (t * mp + i) * np;
        out.set(heap.subarray(src, src + n), (t * m + i) * n);
      }
    }
  }
}
