import * as tf from '@tensorflow/tfjs-core';
import type { NamedAttrMap } from '@tensorflow/tfjs-core';
import type { WasmGradient } from './kernel.js';

/**
 * The gradients of Sum (here) and Mean (./mean-grad.ts) as tfjs defines them, dy broadcast back
 * over the reduced axes by multiplying with ones (and, for Mean, dividing by the count), with
 * one change: the ones come from onesLike(x), a fill in wasm's heap, instead of ones(x.shape),
 * which builds the array in JavaScript and uploads it, twice for every LayerNorm (two Means).
 * The ones are the same, so every gradient keeps its bits.
 */
export function broadcastDy(dy: tf.Tensor, x: tf.Tensor, attrs: NamedAttrMap): { dx: tf.Tensor; axes: number[] } {
  const axes = tf.util.parseAxisParam(attrs['axis'] as number | number[], x.shape);
  const shape = x.shape.slice();
  for (const a of axes) shape[a] = 1;
  const expanded = tf.reshape(dy, shape);
  const ones = x.dtype === 'float32' ? tf.onesLike(x) : tf.ones(x.shape, 'float32');
  return { dx: tf.mul(expanded, ones), axes };
}

export const sumGrad: WasmGradient = {
  kernelName: 'Sum',
  gradFunc: (dy, saved, attrs) => {
    const { dx } = broadcastDy(dy as tf.Tensor, saved[0] as tf.Tensor, attrs);
    return { x: () => dx };
  },
};
