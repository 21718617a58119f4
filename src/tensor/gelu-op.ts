import * as tf from '@tensorflow/tfjs-core';

/**
 * GELU as one kernel forward and one backward where the backend registers them (wasm, see
 * src/tensor/wasm/gelu.ts). The kernels are bit-identical to the composition of tfjs ops
 * that other backends run (src/tensor/gelu-kernel.ts).
 */

/** x -> [gelu(x), 1 + erf(x * SQRT1_2)]; the second output is kept for the gradient. */
export const GELU_KERNEL = 'FedpftGelu';
/** {x, b, dy} -> dx. */
export const GELU_GRAD_KERNEL = 'FedpftGeluGrad';

export function fusedGeluAvailable(): boolean {
  return tf.getKernel(GELU_KERNEL, tf.getBackend()) !== undefined && tf.getKernel(GELU_GRAD_KERNEL, tf.getBackend()) !== undefined;
}

const fused = tf.customGrad((...args: Array<tf.Tensor | tf.GradSaveFunc>) => {
  const [x, save] = args as [tf.Tensor, tf.GradSaveFunc];
  const [y, b] = tf.engine().runKernel(GELU_KERNEL, { x }) as tf.Tensor[] as [tf.Tensor, tf.Tensor];
  // save keeps its own reference when gradients are recorded; b is not needed otherwise.
  save([x, b]);
  b.dispose();
  return {
    value: y,
    gradFunc: (dy, saved) => {
      const [xs, bs] = saved as [tf.Tensor, tf.Tensor];
      return tf.engine().runKernel(GELU_GRAD_KERNEL, { x: xs, b: bs, dy }) as tf.Tensor;
    },
  };
});

export function fusedGelu(x: tf.Tensor): tf.Tensor {
  return fused(x);
}
