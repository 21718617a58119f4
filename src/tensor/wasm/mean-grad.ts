import * as tf from '@tensorflow/tfjs-core';
import type { WasmGradient } from './kernel.js';
import { broadcastDy } from './sum-grad.js';

/** Mean's gradient: Sum's (./sum-grad.ts) divided by the number of elements each mean took. */
export const meanGrad: WasmGradient = {
  kernelName: 'Mean',
  gradFunc: (dy, saved, attrs) => {
    const x = saved[0] as tf.Tensor;
    const { dx, axes } = broadcastDy(dy as tf.Tensor, x, attrs);
    const count = axes.reduce((n, a) => n * (x.shape[a] as number), 1);
    return { x: () => tf.div(dx, count) };
  },
};
