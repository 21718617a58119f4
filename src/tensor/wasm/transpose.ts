import type { TensorInfo } from '@tensorflow/tfjs-core';
import { planAxisSwap, SwapAxes } from '../swap-axes.js';
import { asWasm, heapAddress, wasmMemory } from '../tfjs-internals.js';
import type { WasmKernel } from './kernel.js';

/**
 * Transposes that swap two neighbouring axes above the last (the attention's head split and
 * merge) move whole rows in place (src/tensor/swap-axes.ts), where wasm's kernel computes every
 * element's position. Other permutations and dtypes go to the stock kernel.
 */
export const transpose: WasmKernel = {
  kernelName: 'Transpose',
  kernelFunc: ({ backend, stock }) => {
    const original = stock('Transpose');
    const kernel = new SwapAxes(wasmMemory(backend));
    return (args) => {
      const x = args.inputs['x'] as TensorInfo;
      const perm = (args.attrs as { perm: number[] }).perm;
      const plan = x.dtype === 'float32' ? planAxisSwap(x.shape, perm) : null;
      if (!plan) return original(args);
      const wasm = asWasm(args.backend);
      const out = wasm.makeOutput(perm.map((p) => x.shape[p] as number), 'float32');
      kernel.run(heapAddress(wasm, x), heapAddress(wasm, out), plan.outer, plan.p, plan.q, plan.inner);
      return out;
    };
  },
};
