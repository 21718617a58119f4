import * as tf from '@tensorflow/tfjs-core';
import type { TensorInfo } from '@tensorflow/tfjs-core';
import { BatchedMatMul, DEFAULT_TILE, K_BLOCK, UNBLOCKED, type Operands, type Scratch } from '../batched-matmul.js';
import type { Sgemm } from '../blas.js';
import { asWasm, heapAddress, wasmMemory, type WasmBackend } from '../tfjs-internals.js';
import type { WasmKernel } from './kernel.js';

/**
 * BatchMatMul: wasm's own kernel reaches XNNPACK only when the (rank-3) batch is 1 and neither
 * input is transposed, and every backward matMul is transposed; the other cases run a scalar
 * loop. This kernel runs every float32 product through the project's SIMD kernel
 * (src/tensor/batched-matmul.ts), in place in wasm's heap, folding a batched left operand into
 * rows when the right operand is shared. Each case keeps the summation order of the tfjs path
 * it replaces: one run over k, as XNNPACK's GEMM, where B is shared; restarted every 48 terms,
 * as the scalar loop, where both operands carry the same batch (attention). Unlike XNNPACK it
 * creates no operator and packs no weights for each new B. A batched B against a shared A, and
 * other dtypes, still go to the stock kernel.
 */
export const batchMatMul: WasmKernel = {
  kernelName: 'BatchMatMul',
  kernelFunc: ({ backend, sgemm, stock }) => {
    const original = stock('BatchMatMul');
    const transpose = stock('Transpose');
    const memory = wasmMemory(backend);
    const shared = new BatchedMatMul(DEFAULT_TILE, UNBLOCKED, memory);
    const perBatch = new BatchedMatMul(DEFAULT_TILE, K_BLOCK, memory);
    const scratch = new HeapScratch(backend);
    return (args) => {
      const wasm = asWasm(args.backend);
      const { transposeA, transposeB } = args.attrs as { transposeA: boolean; transposeB: boolean };
      const b = args.inputs['b'] as TensorInfo;
      let a = args.inputs['a'] as TensorInfo;
      let tA = transposeA;
      const [m, k] = (transposeA ? a.shape.slice(-2).reverse() : a.shape.slice(-2)) as [number, number];
      const n = b.shape[b.shape.length - (transposeB ? 2 : 1)] as number;
      const batchA = a.shape.slice(0, -2).reduce((p, s) => p * s, 1);
      const batchB = b.shape.slice(0, -2).reduce((p, s) => p * s, 1);
      const batchShape = tf.broadcast_util.assertAndGetBroadcastShape(a.shape.slice(0, -2), b.shape.slice(0, -2));
      const float = a.dtype === 'float32' && b.dtype === 'float32' && m > 0 && k > 0 && n > 0;
      // A batched A against a shared B folds into rows: one 2-D product. A transposed batched A
      // must be transposed first (its batches' columns are its rows).
      const fold = float && batchB === 1;
      const sameBatch = float && batchA === batchB && a.shape.length === b.shape.length && a.shape.slice(0, -2).every((d, i) => d === b.shape[i]);
      if (!fold && !sameBatch) return original(args);
      let temp: TensorInfo | null = null;
      try {
        if (fold && batchA > 1 && transposeA) {
          const perm = a.shape.map((_, i) => i);
          perm.splice(-2, 2, a.shape.length - 1, a.shape.length - 2);
          temp = transpose({ inputs: { x: a }, backend: args.backend, attrs: { perm } }) as TensorInfo;
          a = temp;
          tA = false;
        }
        const out = wasm.makeOutput([...batchShape, m, n], 'float32');
        const at = { a: heapAddress(wasm, a), b: heapAddress(wasm, b), out: heapAddress(wasm, out) };
        if (sgemm) blasMatMul(sgemm, memory, at, fold ? 1 : batchA, fold ? batchA * m : m, k, n, tA, transposeB);
        else if (fold) shared.matMulAt(at, scratch, 1, batchA * m, k, n, tA, transposeB);
        else perBatch.matMulAt(at, scratch, batchA, m, k, n, tA, transposeB);
        return out;
      } finally {
        if (temp) wasm.disposeData(temp.dataId);
      }
    };
  },
};

/** One block of wasm's heap, from its own allocator, grown (freed and allocated again) on demand. */
class HeapScratch implements Scratch {
  private address = 0;
  private bytes = 0;

  constructor(private readonly backend: WasmBackend) {}

  reserve(bytes: number): number {
    if (bytes <= this.bytes) return this.address;
    const { wasm } = this.backend;
    if (this.address) wasm._free(this.address);
    // Headroom, so that a run of slightly growing requests does not reallocate each time.
    this.bytes = Math.ceil(bytes * 1.25);
    this.address = wasm._malloc(this.bytes);
    if (!this.address) throw new Error(`wasm heap: could not allocate ${this.bytes} bytes of matMul scratch`);
    return this.address;
  }
}

/** One product C = op(A) op(B) per batch, through BLAS, on operands in place in wasm's heap. */
function blasMatMul(sgemm: Sgemm, memory: WebAssembly.Memory, at: Operands, batch: number, m: number, k: number, n: number, tA: boolean, tB: boolean): void {
  // Views are made per call: a growing heap replaces its buffer.
  const heap = memory.buffer;
  for (let i = 0; i < batch; i++) {
    const a = new Float32Array(heap, at.a + 4 * i * m * k, m * k);
    const b = new Float32Array(heap, at.b + 4 * i * k * n, k * n);
    const c = new Float32Array(heap, at.out + 4 * i * m * n, m * n);
    sgemm(tA, tB, m, n, k, a, tA ? m : k, b, tB ? k : n, c, n);
  }
}
