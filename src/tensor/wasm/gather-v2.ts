import type { TensorInfo } from '@tensorflow/tfjs-core';
import { asWasm } from '../tfjs-internals.js';
import type { WasmKernel } from './kernel.js';

/**
 * GatherV2 along axis 0 (embedding lookups) copies whole rows, where wasm's kernel gathers
 * element by element. Other axes and dtypes go to the stock kernel.
 */
export const gatherV2: WasmKernel = {
  kernelName: 'GatherV2',
  kernelFunc: ({ stock }) => {
    const original = stock('GatherV2');
    return (args) => {
      const { x, indices } = args.inputs as { x: TensorInfo; indices: TensorInfo };
      const { axis, batchDims } = args.attrs as { axis: number; batchDims: number };
      if (axis !== 0 || batchDims !== 0 || x.dtype !== 'float32' || indices.dtype !== 'int32' || x.shape.length < 1) return original(args);
      const wasm = asWasm(args.backend);
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
  },
};
