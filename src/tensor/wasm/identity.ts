import type { KernelFunc, TensorInfo } from '@tensorflow/tfjs-core';
import { asWasm } from '../tfjs-internals.js';
import type { WasmKernel } from './kernel.js';

/**
 * Identity shares its input's data instead of copying it, as the cpu backend's does: tfjs
 * tensors are immutable, and the wasm backend already counts references to shared data (its
 * Reshape shares). tfjs runs Identity wherever it clones a tensor.
 */
export const sharedIdentity: KernelFunc = (args) => {
  const x = args.inputs['x'] as TensorInfo;
  asWasm(args.backend).incRef(x.dataId);
  return { dataId: x.dataId, shape: x.shape, dtype: x.dtype };
};

export const identity: WasmKernel = {
  kernelName: 'Identity',
  kernelFunc: () => sharedIdentity,
};
