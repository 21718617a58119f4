import * as tf from '@tensorflow/tfjs-core';
import type { TensorInfo } from '@tensorflow/tfjs-core';
import { GELU_GRAD_KERNEL } from '../gelu-op.js';
import { float32Address, onGeluKernel } from './gelu.js';

/** GELU's gradient from the forward's second output, 1 + erf(x * SQRT1_2), so erf is not computed again. */
export const geluGrad = onGeluKernel(GELU_GRAD_KERNEL, (kernel, wasm, inputs) => {
  const { x, b: erf1, dy } = inputs as { x: TensorInfo; b: TensorInfo; dy: TensorInfo };
  const dx = wasm.makeOutput(x.shape, 'float32');
  kernel.backward(float32Address(wasm, x), float32Address(wasm, erf1), float32Address(wasm, dy), float32Address(wasm, dx), tf.util.sizeFromShape(x.shape));
  return dx;
});
