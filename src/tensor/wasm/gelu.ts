import * as tf from '@tensorflow/tfjs-core';
import type { NamedTensorInfoMap, TensorInfo } from '@tensorflow/tfjs-core';
import { GELU_SCRATCH_BYTES, GeluKernel } from '../gelu-kernel.js';
import { GELU_KERNEL } from '../gelu-op.js';
import { asWasm, heapAddress, wasmMemory, type WasmBackend } from '../tfjs-internals.js';
import { perBackend, type WasmKernel } from './kernel.js';

/**
 * GELU forward (here) and backward (./gelu-grad.ts) as one kernel each instead of 5 and 8 tfjs
 * ops (src/tensor/gelu-op.ts), in place in wasm's heap, bit-identical to the composition
 * (src/tensor/gelu-kernel.ts). Both share one kernel module and its scratch (expf's table).
 */
const geluKernels = perBackend((backend) => new GeluKernel(wasmMemory(backend), backend.wasm._malloc(GELU_SCRATCH_BYTES)));

/** A kernel that runs on the backend's GeluKernel, its tensors given by their heap addresses. */
export function onGeluKernel(kernelName: string, run: (kernel: GeluKernel, wasm: WasmBackend, inputs: NamedTensorInfoMap) => TensorInfo | TensorInfo[]): WasmKernel {
  return {
    kernelName,
    kernelFunc: ({ backend }) => {
      const kernel = geluKernels(backend);
      return (args) => run(kernel, asWasm(args.backend), args.inputs);
    },
  };
}

export function float32Address(wasm: WasmBackend, t: TensorInfo): number {
  if (t.dtype !== 'float32') throw new Error(`fused GELU: expected float32 tensors, got ${t.dtype}`);
  return heapAddress(wasm, t);
}

export const gelu = onGeluKernel(GELU_KERNEL, (kernel, wasm, inputs) => {
  const x = inputs['x'] as TensorInfo;
  const y = wasm.makeOutput(x.shape, 'float32');
  const erf1 = wasm.makeOutput(x.shape, 'float32');
  kernel.forward(float32Address(wasm, x), float32Address(wasm, y), float32Address(wasm, erf1), tf.util.sizeFromShape(x.shape));
  return [y, erf1];
});
