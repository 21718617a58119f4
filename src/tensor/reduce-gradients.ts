import * as tf from '@tensorflow/tfjs-core';

/**
 * The gradients of Sum and Mean as tfjs defines them, dy broadcast back over the reduced axes
 * by multiplying with ones (and, for Mean, dividing by the count), with one change: the ones
 * come from onesLike(x), a fill in the backend's memory, instead of ones(x.shape), which
 * builds the array in JavaScript and uploads it (144 against 7 us for [1088, 64] on wasm; every
 * LayerNorm takes two Means). The values are the same ones, so every gradient keeps its bits.
 */

function expandedDy(dy: tf.Tensor, x: tf.Tensor, axis: number | number[]): { expanded: tf.Tensor; axes: number[] } {
  const axes = tf.util.parseAxisParam(axis, x.shape);
  const shape = x.shape.slice();
  for (const a of axes) shape[a] = 1;
  return { expanded: tf.reshape(dy, shape), axes };
}

const onesFor = (x: tf.Tensor): tf.Tensor => (x.dtype === 'float32' ? tf.onesLike(x) : tf.ones(x.shape, 'float32'));

export function installReduceGradients(): void {
  tf.registerGradient({
    kernelName: 'Sum',
    inputsToSave: ['x'],
    gradFunc: (dy, saved, attrs) => {
      const [x] = saved as [tf.Tensor];
      const { expanded } = expandedDy(dy as tf.Tensor, x, (attrs as unknown as { axis: number | number[] }).axis);
      const derX = tf.mul(expanded, onesFor(x));
      return { x: () => derX };
    },
  });
  tf.registerGradient({
    kernelName: 'Mean',
    inputsToSave: ['x'],
    gradFunc: (dy, saved, attrs) => {
      const [x] = saved as [tf.Tensor];
      const { expanded, axes } = expandedDy(dy as tf.Tensor, x, (attrs as unknown as { axis: number | number[] }).axis);
      const count = axes.reduce((n, a) => n * (x.shape[a] as number), 1);
      return { x: () => tf.div(tf.mul(expanded, onesFor(x)), count) };
    },
  });
}
