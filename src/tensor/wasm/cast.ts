import type { TensorInfo } from '@tensorflow/tfjs-core';
import { sharedIdentity } from './identity.js';
import type { WasmKernel } from './kernel.js';

/**
 * Cast to the dtype a tensor already has (every gradient of mul and add runs one) shares the
 * data, as Identity does (./identity.ts), where wasm's kernel copies it. Other casts convert
 * in the stock kernel.
 */
export const cast: WasmKernel = {
  kernelName: 'Cast',
  kernelFunc: ({ stock }) => {
    const original = stock('Cast');
    return (args) => {
      const x = args.inputs['x'] as TensorInfo;
      if ((args.attrs as { dtype: string }).dtype !== x.dtype) return original(args);
      return sharedIdentity({ inputs: { x }, backend: args.backend });
    };
  },
};
