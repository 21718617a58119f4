import * as tf from '@tensorflow/tfjs-core';
import type { KernelFunc } from '@tensorflow/tfjs-core';
import type { Sgemm } from '../blas.js';
import { assertTfjsRelease, wasmBackend } from '../tfjs-internals.js';
import { add } from './add.js';
import { batchMatMul } from './batch-mat-mul.js';
import { cast } from './cast.js';
import { gatherV2 } from './gather-v2.js';
import { gelu } from './gelu.js';
import { geluGrad } from './gelu-grad.js';
import { identity } from './identity.js';
import type { WasmGradient, WasmKernel, WasmKernelEnv } from './kernel.js';
import { meanGrad } from './mean-grad.js';
import { multiply } from './multiply.js';
import { realDiv } from './real-div.js';
import { shareSavedTensors } from './saved-tensors.js';
import { sub } from './sub.js';
import { sum } from './sum.js';
import { sumGrad } from './sum-grad.js';
import { transpose } from './transpose.js';
import { unsortedSegmentSum } from './unsorted-segment-sum.js';

/**
 * The project's kernels for tfjs's wasm backend, installed through tfjs's kernel registry, one
 * kernel a file in this folder. Every replacement does the same float32 operations in the same
 * order as the stock kernel where it takes over, and hands every other case to the stock kernel;
 * the `fast` set alone changes bits (BatchMatMul through OpenBLAS).
 */

/** Speed fixes: replacements of tfjs's wasm kernels, plus the fused GELU pair. */
const FIXES: readonly WasmKernel[] = [batchMatMul, sum, gatherV2, identity, cast, gelu, geluGrad, add, sub, multiply, realDiv, transpose];

/**
 * Kernels wasm lacks altogether (not speed fixes): installed even when the bench switches the
 * fixes off, so that the stock-kernel comparison can still train embeddings (text FMs).
 */
const MISSING: readonly WasmKernel[] = [unsortedSegmentSum];

const GRADIENTS: readonly WasmGradient[] = [sumGrad, meanGrad];

let fixesInstalled = false;
let missingInstalled = false;

/**
 * `sgemm`: the `fast` kernel set's float32 products (OpenBLAS, src/tensor/blas.ts) instead of the
 * project's SIMD kernels, which keep tfjs's summation order (the `exact` set).
 */
export function installWasmKernelFixes(sgemm?: Sgemm): void {
  if (fixesInstalled) return;
  const env = kernelEnv(sgemm);
  for (const kernel of FIXES) register(kernel, env);
  shareSavedTensors();
  for (const gradient of GRADIENTS) registerForWasm(gradient);
  installMissing(env);
  fixesInstalled = true;
}

export function installMissingWasmKernels(): void {
  installMissing(kernelEnv(undefined));
}

function installMissing(env: WasmKernelEnv): void {
  if (missingInstalled) return;
  for (const kernel of MISSING) register(kernel, env);
  missingInstalled = true;
}

function kernelEnv(sgemm: Sgemm | undefined): WasmKernelEnv {
  assertTfjsRelease('wasm');
  const stock = new Map(tf.getKernelsForBackend('wasm').map((k): [string, KernelFunc] => [k.kernelName, k.kernelFunc]));
  return {
    backend: wasmBackend(),
    sgemm,
    stock: (name) => {
      const f = stock.get(name);
      if (!f) throw new Error(`wasm backend has no ${name} kernel; import @tensorflow/tfjs-backend-wasm first`);
      return f;
    },
  };
}

function register(kernel: WasmKernel, env: WasmKernelEnv): void {
  const kernelFunc = kernel.kernelFunc(env);
  const stock = tf.getKernel(kernel.kernelName, 'wasm');
  // A replacement keeps the stock kernel's setup and dispose functions (wasm binds its C functions there).
  if (stock) tf.unregisterKernel(kernel.kernelName, 'wasm');
  tf.registerKernel({ ...stock, kernelName: kernel.kernelName, backendName: 'wasm', kernelFunc });
}

/**
 * tfjs keys gradients by kernel alone, for every backend: the gradient registered is a switch
 * that runs tfjs's own gradient, saving what it saves, whenever the backend is not wasm, so cpu
 * and webgpu compute exactly the stock gradient.
 */
function registerForWasm({ kernelName, gradFunc }: WasmGradient): void {
  const stock = tf.getGradient(kernelName);
  if (!stock) throw new Error(`tfjs has no gradient for ${kernelName}; import @tensorflow/tfjs first`);
  tf.registerGradient({ ...stock, gradFunc: (dy, saved, attrs) => (tf.getBackend() === 'wasm' ? gradFunc : stock.gradFunc)(dy, saved, attrs) });
}
