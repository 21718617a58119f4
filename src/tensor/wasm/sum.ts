import * as tf from '@tensorflow/tfjs-core';
import type { TensorInfo } from '@tensorflow/tfjs-core';
import { ColumnSum } from '../column-sum.js';
import { asWasm } from '../tfjs-internals.js';
import type { WasmKernel } from './kernel.js';

/**
 * Sum over leading axes (every bias gradient): wasm's kernel transposes the reduced axes
 * innermost first; this one adds down the columns in place (src/tensor/column-sum.ts), the same
 * terms in the same order. Other reductions go to the stock kernel.
 */
export const sum: WasmKernel = {
  kernelName: 'Sum',
  kernelFunc: ({ stock }) => {
    const original = stock('Sum');
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
      const wasm = asWasm(args.backend);
      const out = wasm.makeOutput([...(keepDims ? new Array<number>(lead).fill(1) : []), ...x.shape.slice(lead)], 'float32');
      columns.sum(wasm.typedArrayFromHeap(x) as Float32Array, wasm.typedArrayFromHeap(out) as Float32Array, rows, cols);
      return out;
    };
  },
};
