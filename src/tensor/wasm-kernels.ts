import * as tf from '@tensorflow/tfjs-core';
import type { KernelConfig, KernelFunc, NamedAttrMap, TensorInfo } from '@tensorflow/tfjs-core';
import { BatchedMatMul, DEFAULT_TILE, K_BLOCK, UNBLOCKED, type Scratch } from './batched-matmul.js';
import { BroadcastBinary, emptyPlan, planBroadcast, type BinaryOp } from './broadcast-binary.js';
import { ColumnSum } from './column-sum.js';
import { GELU_SCRATCH_BYTES, GeluKernel } from './gelu-kernel.js';
import { GELU_GRAD_KERNEL, GELU_KERNEL } from './gelu-op.js';
import { installReduceGradients } from './reduce-gradients.js';
import { planAxisSwap, SwapAxes } from './swap-axes.js';
import type { Sgemm } from './blas.js';

/**
 * Kernel fixes for the wasm backend, installed through tfjs's kernel registry.
 *
 * The wasm BatchMatMul only reaches XNNPACK when the (rank-3) batch is 1 and neither input is
 * transposed; every other case runs a scalar loop about 10x slower, and every backward matMul
 * is transposed. The wrapper runs the project's SIMD kernel (src/tensor/batched-matmul.ts) on
 * every float32 product, in place in wasm's heap (operands that need padding or transposing
 * are staged in scratch, transposed by a blocked loop at 0.6-0.8 ns per element against 2-9 for
 * tfjs's Transpose), folding a batched left operand into rows
 * when the right operand is shared: with the sums in one run
 * over k, bit-identical to XNNPACK's GEMM, where B is shared; restarted every 48 terms,
 * bit-identical to the scalar loop, where both operands carry the same batch (attention). It
 * beat tfjs's XNNPACK call on every training shape measured (about 33 against 21-31 GFLOP/s:
 * no operator creation and weight packing per new B). A batched B against a shared A, and
 * other dtypes, still go to the original kernel.
 *
 * Sum over leading axes (every bias gradient) adds down the columns in place
 * (src/tensor/column-sum.ts) instead of transposing first; the terms and their order are the same.
 *
 * GatherV2 (embedding lookups) along axis 0 copies whole rows; wasm's gathered element by element.
 *
 * Identity: wasm's copies the data, and tfjs runs it on every tensor it saves for the
 * backward pass (about 550 copies per ViT train step); Cast to the same dtype, which every
 * gradient of mul and add runs, copies too. tfjs tensors are immutable and the
 * wasm backend already shares reference-counted data between tensors (its Reshape does), so
 * the replacements share instead of copying, as the cpu backend's Identity and Cast do.
 *
 * Add, Sub, Multiply and RealDiv of float32 tensors with equal shapes, a bias, a per-row value or
 * a scalar run a SIMD loop in place (src/tensor/broadcast-binary.ts): one IEEE operation per
 * element as in wasm's own kernels, whose broadcasting path costs up to 90 us on [1088, 64].
 *
 * Transposes that swap two neighbouring axes above the last (the attention's head split and
 * merge) move whole rows in place (src/tensor/swap-axes.ts).
 *
 * GELU forward and backward run as one kernel each (src/tensor/gelu-kernel.ts), in place in
 * wasm's heap, instead of 5 and 8 tfjs ops.
 *
 * Tensors saved for the backward pass: tfjs clones each one through the Identity kernel and
 * records the clone on the tape (about 700 per ViT step), only to hold a second reference to
 * the same data; on wasm the engine takes that reference directly (see shareSavedTensors).
 *
 * The gradients of Sum and Mean take their ones from a fill in wasm's heap instead of a
 * JavaScript array (src/tensor/reduce-gradients.ts).
 *
 * wasm also lacks UnsortedSegmentSum, the gradient of gather (embedding lookups).
 */

interface WasmBackendLike {
  /** The Emscripten module: its heap's Memory and allocator. */
  wasm: { asm: { memory: WebAssembly.Memory }; _malloc(bytes: number): number; _free(address: number): void };
  /** Where each tensor's data starts in the heap (bytes). */
  dataIdMap: { get(dataId: object): { memoryOffset: number } | undefined };
  makeOutput(shape: number[], dtype: tf.DataType): TensorInfo;
  incRef(dataId: object): void;
  typedArrayFromHeap(info: TensorInfo): Float32Array | Int32Array | Uint8Array;
  disposeData(dataId: object): boolean;
}

let installed = false;

/**
 * `sgemm`: the `fast` kernel set's float32 products (OpenBLAS, src/tensor/blas.ts) instead of the
 * project's SIMD kernels, which keep tfjs's summation order (the `exact` set).
 */
export function installWasmKernelFixes(sgemm?: Sgemm): void {
  if (installed) return;
  const original = tf.getKernel('BatchMatMul', 'wasm');
  const transposeKernel = tf.getKernel('Transpose', 'wasm');
  if (!original || !transposeKernel) {
    throw new Error('wasm backend kernels are not registered; import @tensorflow/tfjs-backend-wasm first');
  }
  const originalFunc = original.kernelFunc;
  const transposeFunc = transposeKernel.kernelFunc;
  tf.unregisterKernel('BatchMatMul', 'wasm');
  tf.registerKernel({
    kernelName: 'BatchMatMul',
    backendName: 'wasm',
    setupFunc: original.setupFunc,
    kernelFunc: fastBatchMatMul(originalFunc, transposeFunc, wasmBackend(), sgemm),
  } as KernelConfig);
  const sum = tf.getKernel('Sum', 'wasm');
  if (sum) {
    tf.unregisterKernel('Sum', 'wasm');
    tf.registerKernel({ ...sum, kernelFunc: leadingAxesSum(sum.kernelFunc) });
  }
  const gather = tf.getKernel('GatherV2', 'wasm');
  if (gather) {
    tf.unregisterKernel('GatherV2', 'wasm');
    tf.registerKernel({ ...gather, kernelFunc: rowGather(gather.kernelFunc) });
  }
  const identity = tf.getKernel('Identity', 'wasm');
  tf.unregisterKernel('Identity', 'wasm');
  tf.registerKernel({ ...identity, kernelName: 'Identity', backendName: 'wasm', kernelFunc: sharedIdentity as KernelFunc });
  const cast = tf.getKernel('Cast', 'wasm');
  if (cast) {
    tf.unregisterKernel('Cast', 'wasm');
    tf.registerKernel({ ...cast, kernelFunc: sameDtypeShares(cast.kernelFunc) });
  }
  installFusedGelu();
  installBroadcastBinary();
  installAxisSwap(transposeKernel);
  shareSavedTensors();
  installReduceGradients();
  installMissingWasmKernels();
  installed = true;
}

interface EngineLike {
  backendName: string;
  backend: { incRef(dataId: object): void };
  keep<T extends tf.Tensor>(t: T): T;
  makeTensorFromTensorInfo(info: TensorInfo): tf.Tensor;
  saveTensorsForBackwardMode(tensors: tf.Tensor[]): tf.Tensor[];
}

/**
 * tfjs keeps each tensor a gradient needs as keep(clone(t)): an Identity kernel call plus a
 * tape node that no gradient follows (the tape is filtered to the path from the inputs to the
 * loss). A new tensor object on the same data, with the reference counts the shared Identity
 * would take (the backend's and the engine's), is the same without the dispatch and the tape
 * node: 1.2-1.8 ms of a ViT LoRA step at batch 64 or 16 (A/B in one process), and less
 * garbage. Other backends keep tfjs's way.
 */
function shareSavedTensors(): void {
  const engine = tf.engine() as unknown as EngineLike;
  const original = engine.saveTensorsForBackwardMode.bind(engine);
  engine.saveTensorsForBackwardMode = (tensors) => {
    if (engine.backendName !== 'wasm') return original(tensors);
    return tensors.map((t) => {
      engine.backend.incRef(t.dataId);
      return engine.keep(engine.makeTensorFromTensorInfo({ dataId: t.dataId, shape: t.shape, dtype: t.dtype }));
    });
  };
}

/** The byte address of a tensor's data in wasm's heap (a typed-array view would allocate on every op). */
function heapAddress(wasm: WasmBackendLike, t: TensorInfo): number {
  const data = wasm.dataIdMap.get(t.dataId);
  if (!data) throw new Error('wasm backend: tensor data not found (disposed?)');
  return data.memoryOffset;
}

function wasmBackend(): WasmBackendLike {
  const backend = tf.findBackend('wasm') as unknown as WasmBackendLike | null;
  if (!backend) throw new Error('the wasm backend is not initialised; call tf.setBackend("wasm") first');
  return backend;
}

function installBroadcastBinary(): void {
  const kernels = new BroadcastBinary(wasmBackend().wasm.asm.memory);
  const ops: Array<[string, BinaryOp]> = [['Add', 'add'], ['Sub', 'sub'], ['Multiply', 'mul'], ['RealDiv', 'div']];
  for (const [name, o] of ops) {
    const stock = tf.getKernel(name, 'wasm');
    if (!stock) throw new Error(`wasm backend has no ${name} kernel`);
    const original = stock.kernelFunc;
    const reused = emptyPlan();
    tf.unregisterKernel(name, 'wasm');
    tf.registerKernel({
      ...stock,
      kernelFunc: (args) => {
        const { a, b } = args.inputs as { a: TensorInfo; b: TensorInfo };
        if (a.dtype !== 'float32' || b.dtype !== 'float32') return original(args);
        const outShape = tf.backend_util.assertAndGetBroadcastShape(a.shape, b.shape);
        const plan = planBroadcast(a.shape, b.shape, outShape, reused);
        if (!plan) return original(args);
        const wasm = args.backend as unknown as WasmBackendLike;
        const out = wasm.makeOutput(outShape, 'float32');
        kernels.run(o, plan, heapAddress(wasm, a), heapAddress(wasm, b), heapAddress(wasm, out));
        return out;
      },
    });
  }
}

function installAxisSwap(stock: KernelConfig): void {
  const kernel = new SwapAxes(wasmBackend().wasm.asm.memory);
  const original = stock.kernelFunc;
  tf.unregisterKernel('Transpose', 'wasm');
  tf.registerKernel({
    ...stock,
    kernelFunc: (args) => {
      const x = args.inputs['x'] as TensorInfo;
      const perm = (args.attrs as { perm: number[] }).perm;
      const plan = x.dtype === 'float32' ? planAxisSwap(x.shape, perm) : null;
      if (!plan) return original(args);
      const wasm = args.backend as unknown as WasmBackendLike;
      const out = wasm.makeOutput(perm.map((p) => x.shape[p] as number), 'float32');
      kernel.run(heapAddress(wasm, x), heapAddress(wasm, out), plan.outer, plan.p, plan.q, plan.inner);
      return out;
    },
  });
}

function installFusedGelu(): void {
  const backend = wasmBackend();
  const kernel = new GeluKernel(backend.wasm.asm.memory, backend.wasm._malloc(GELU_SCRATCH_BYTES));
  const address = (wasm: WasmBackendLike, t: TensorInfo): number => {
    if (t.dtype !== 'float32') throw new Error(`fused GELU: expected float32 tensors, got ${t.dtype}`);
    return heapAddress(wasm, t);
  };
  tf.registerKernel({
    kernelName: GELU_KERNEL,
    backendName: 'wasm',
    kernelFunc: ({ inputs, backend: b }) => {
      const wasm = b as unknown as WasmBackendLike;
      const x = inputs['x'] as TensorInfo;
      const y = wasm.makeOutput(x.shape, 'float32');
      const erf1 = wasm.makeOutput(x.shape, 'float32');
      kernel.forward(address(wasm, x), address(wasm, y), address(wasm, erf1), tf.util.sizeFromShape(x.shape));
      return [y, erf1];
    },
  });
  tf.registerKernel({
    kernelName: GELU_GRAD_KERNEL,
    backendName: 'wasm',
    kernelFunc: ({ inputs, backend: b }) => {
      const wasm = b as unknown as WasmBackendLike;
      const { x, b: erf1, dy } = inputs as { x: TensorInfo; b: TensorInfo; dy: TensorInfo };
      const dx = wasm.makeOutput(x.shape, 'float32');
      kernel.backward(address(wasm, x), address(wasm, erf1), address(wasm, dy), address(wasm, dx), tf.util.sizeFromShape(x.shape));
      return dx;
    },
  });
}

/**
 * Kernels wasm lacks altogether (not speed fixes): installed even when the bench switches the
 * fixes off, so that the stock-kernel comparison can still train embeddings (text FMs).
 */
export function installMissingWasmKernels(): void {
  if (!tf.getKernel('UnsortedSegmentSum', 'wasm')) {
    tf.registerKernel({ kernelName: 'UnsortedSegmentSum', backendName: 'wasm', kernelFunc: unsortedSegmentSum as KernelFunc });
  }
}

/** One block of wasm's heap, from its own allocator, grown (freed and allocated again) on demand. */
class HeapScratch implements Scratch {
  private address = 0;
  private bytes = 0;

  constructor(private readonly wasm: WasmBackendLike['wasm']) {}

  reserve(bytes: number): number {
    if (bytes <= this.bytes) return this.address;
    if (this.address) this.wasm._free(this.address);
    // Headroom, so that a run of slightly growing requests does not reallocate each time.
    this.bytes = Math.ceil(bytes * 1.25);
    this.address = this.wasm._malloc(this.bytes);
    if (!this.address) throw new Error(`wasm heap: could not allocate ${this.bytes} bytes of matMul scratch`);
    return this.address;
  }
}

/** One product C = op(A) op(B) per batch, through BLAS, on operands in place in wasm's heap. */
function blasMatMul(sgemm: Sgemm, memory: WebAssembly.Memory, at: { a: number; b: number; out: number }, batch: number, m: number, k: number, n: number, tA: boolean, tB: boolean): void {
  // Views are made per call: a growing heap replaces its buffer.
  const heap = memory.buffer;
  for (let i = 0; i < batch; i++) {
    const a = new Float32Array(heap, at.a + 4 * i * m * k, m * k);
    const b = new Float32Array(heap, at.b + 4 * i * k * n, k * n);
    const c = new Float32Array(heap, at.out + 4 * i * m * n, m * n);
    sgemm(tA, tB, m, n, k, a, tA ? m : k, b, tB ? k : n, c, n);
  }
}

function fastBatchMatMul(original: KernelFunc, transposeFunc: KernelFunc, backend: WasmBackendLike, sgemm?: Sgemm): KernelFunc {
  // Each kernel keeps the summation order of the tfjs path it replaces: XNNPACK (one run over
  // k) where B is shared, the scalar loop (restarting every 48 terms) where both are batched.
  // Both run in place in wasm's heap.
  const memory = backend.wasm.asm.memory;
  const shared = new BatchedMatMul(DEFAULT_TILE, UNBLOCKED, memory);
  const perBatch = new BatchedMatMul(DEFAULT_TILE, K_BLOCK, memory);
  const scratch = new HeapScratch(backend.wasm);
  return (args) => {
    const { inputs, backend, attrs } = args;
    const wasm = backend as unknown as WasmBackendLike;
    const { transposeA, transposeB } = attrs as { transposeA: boolean; transposeB: boolean };
    const b = inputs['b'] as TensorInfo;
    let a = inputs['a'] as TensorInfo;
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
        temp = transposeFunc({ inputs: { x: a }, backend, attrs: { perm } }) as TensorInfo;
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
}

function leadingAxesSum(original: KernelFunc): KernelFunc {
  const columns = new ColumnSum();
  return (args) => {
    const { x } = args.inputs as { x: TensorInfo };
    const { axis, keepDims } = args.attrs as { axis: number | number[]; keepDims: boolean };
    const axes = tf.util.parseAxisParam(axis, x.shape).sort((p, q) => p - q);
    const lead = axes.length;
    const leading = lead > 0 && lead < x.shape.length && axes.every((a, i) => a === i);
    const rows = x.shape.slice(0, lead).reduce((p, d) => p * d, 1);
    const cols = x.shape.slice(lead).reduce((p, d) => p * d, 1);
    if (!leading || x.dtype !== 'float32' || rows === 0 || cols === 0) return original(args);
    const wasm = args.backend as WasmBackendLike;
    const out = wasm.makeOutput([...(keepDims ? new Array<number>(lead).fill(1) : []), ...x.shape.slice(lead)], 'float32');
    columns.sum(wasm.typedArrayFromHeap(x) as Float32Array, wasm.typedArrayFromHeap(out) as Float32Array, rows, cols);
    return out;
  };
}

function rowGather(original: KernelFunc): KernelFunc {
  return (args) => {
    const { x, indices } = args.inputs as { x: TensorInfo; indices: TensorInfo };
    const { axis, batchDims } = args.attrs as { axis: number; batchDims: number };
    if (axis !== 0 || batchDims !== 0 || x.dtype !== 'float32' || indices.dtype !== 'int32' || x.shape.length < 1) return original(args);
    const wasm = args.backend as WasmBackendLike;
    const rows = x.shape[0] as number;
    const slice = x.shape.slice(1).reduce((p, d) => p * d, 1);
    const out = wasm.makeOutput([...indices.shape, ...x.shape.slice(1)], 'float32');
    const ids = wasm.typedArrayFromHeap(indices) as Int32Array;
    const xVals = wasm.typedArrayFromHeap(x) as Float32Array;
    const outVals = wasm.typedArrayFromHeap(out) as Float32Array;
    for (let i = 0; i < ids.length; i++) {
      const row = ids[i] as number;
      if (row < 0 || row >= rows) {
        wasm.disposeData(out.dataId);
        throw new Error(`GatherV2: the index value ${row} is not in [0, ${rows - 1}]`);
      }
      outVals.set(xVals.subarray(row * slice, (row + 1) * slice), i * slice);
    }
    return out;
  };
}

function sameDtypeShares(original: KernelFunc): KernelFunc {
  return (args) => {
    const { x } = args.inputs as { x: TensorInfo };
    if ((args.attrs as { dtype: string }).dtype !== x.dtype) return original(args);
    return sharedIdentity({ inputs: { x }, backend: args.backend });
  };
}

function sharedIdentity(args: { inputs: { x: TensorInfo }; backend: unknown }): TensorInfo {
  const { x } = args.inputs;
  (args.backend as WasmBackendLike).incRef(x.dataId);
  return { dataId: x.dataId, shape: x.shape, dtype: x.dtype };
}

function unsortedSegmentSum(args: { inputs: { x: TensorInfo; segmentIds: TensorInfo }; backend: unknown; attrs: NamedAttrMap }): TensorInfo {
  const { x, segmentIds } = args.inputs;
  const backend = args.backend as WasmBackendLike;
  const numSegments = args.attrs['numSegments'] as number;
  if (x.dtype !== 'float32') throw new Error(`UnsortedSegmentSum (wasm) supports float32 only, got ${x.dtype}`);
  const idsRank = segmentIds.shape.length;
  const inner = x.shape.slice(idsRank).reduce((p, s) => p * s, 1);
  const outShape = [numSegments, ...x.shape.slice(idsRank)];
  const out = backend.makeOutput(outShape, 'float32');
  const outVals = backend.typedArrayFromHeap(out) as Float32Array;
  outVals.fill(0);
  const xVals = backend.typedArrayFromHeap(x) as Float32Array;
  const ids = backend.typedArrayFromHeap(segmentIds) as Int32Array;
  for (let i = 0; i < ids.length; i++) {
    const seg = ids[i] as number;
    // TensorFlow drops out-of-range (e.g. negative) segment ids instead of failing.
    if (seg < 0 || seg >= numSegments) continue;
    const src = i * inner;
    const dst = seg * inner;
    for (let j = 0; j < inner; j++) outVals[dst + j] = (outVals[dst + j] as number) + (xVals[src + j] as number);
  }
  return out;
}
