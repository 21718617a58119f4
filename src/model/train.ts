import * as tf from '@tensorflow/tfjs-core';
import type { AdamW } from './adamw.js';
import type { Params } from './params.js';
import { readScalar, readView } from '../tensor/read.js';

/** Mean softmax cross-entropy of logits [n, classes] against integer labels. */
export function crossEntropy(logits: tf.Tensor2D, labels: Int32Array): tf.Scalar {
  const onehot = tf.oneHot(tf.tensor1d(labels, 'int32'), logits.shape[1]);
  return tf.neg(tf.mean(tf.sum(tf.mul(onehot, tf.logSoftmax(logits)), 1))) as tf.Scalar;
}

export type LossFn = () => tf.Scalar;

/**
 * PyTorch's clip_grad_norm_: with the global L2 norm N of all gradients (the norm of the
 * per-tensor norms), every gradient is multiplied by min(1, maxNorm / (N + 1e-6)). An unclipped
 * step multiplies by exactly 1, so its gradients keep their bits. maxNorm 0 switches it off. Call
 * inside a tidy. The factor stays on the device: no read-back per step.
 */
export function clipByGlobalNorm(grads: tf.NamedTensorMap, maxNorm: number): tf.NamedTensorMap {
  const names = Object.keys(grads);
  if (maxNorm === 0 || names.length === 0) return grads;
  const norms = names.map((n) => tf.sqrt(tf.sum(tf.square(grads[n] as tf.Tensor))));
  const total = tf.sqrt(tf.sum(tf.square(tf.stack(norms))));
  const factor = tf.minimum(tf.div(tf.scalar(maxNorm), tf.add(total, 1e-6)), 1);
  const out: tf.NamedTensorMap = {};
  for (const n of names) out[n] = tf.mul(grads[n] as tf.Tensor, factor);
  return out;
}

/** One optimisation step on the given variables; returns the loss before the step. */
export async function trainStep(loss: LossFn, vars: ReadonlyMap<string, tf.Variable>, optimizer: AdamW, lr: number, maxGradNorm = 0): Promise<number> {
  const value = tf.tidy(() => {
    const { value, grads } = tf.variableGrads(loss, [...vars.values()]);
    const byName: tf.NamedTensorMap = {};
    for (const [name, v] of vars) {
      const g = grads[v.name];
      if (g) byName[name] = g;
    }
    optimizer.step(clipByGlobalNorm(byName, maxGradNorm), lr);
    return value;
  });
  try {
    return await readScalar(value);
  } finally {
    value.dispose();
  }
}

/** Turns the named tensors into trainable variables in place; returns them by name. */
export function makeTrainable(params: Params, names: readonly string[]): Map<string, tf.Variable> {
  const vars = new Map<string, tf.Variable>();
  for (const name of names) {
    const t = params.get(name);
    if (!t) throw new Error(`missing parameter ${name}`);
    const v = t instanceof tf.Variable ? t : tf.variable(t, true);
    if (v !== t) t.dispose();
    params.set(name, v);
    vars.set(name, v);
  }
  return vars;
}

/** Copies `count` examples starting at `indices[start]` into one batch tensor. */
export function gatherBatch(
  features: Float32Array,
  labels: Int32Array,
  featureSize: number,
  indices: ArrayLike<number>,
  start: number,
  count: number,
): { x: tf.Tensor2D; y: Int32Array } {
  const x = new Float32Array(count * featureSize);
  const y = new Int32Array(count);
  for (let i = 0; i < count; i++) {
    const idx = indices[start + i] as number;
    x.set(features.subarray(idx * featureSize, (idx + 1) * featureSize), i * featureSize);
    y[i] = labels[idx] as number;
  }
  return { x: tf.tensor2d(x, [count, featureSize]), y };
}

export interface EvalResult {
  accuracy: number;
  loss: number;
  n: number;
}

/** Accuracy and mean loss over a dataset (in fixed-size batches, the last one smaller). */
export async function evaluate(
  forward: (x: tf.Tensor2D) => tf.Tensor2D,
  features: Float32Array,
  labels: Int32Array,
  featureSize: number,
  batchSize = 256,
): Promise<EvalResult> {
  const n = labels.length;
  const order = Int32Array.from({ length: n }, (_, i) => i);
  let correct = 0;
  let lossSum = 0;
  for (let start = 0; start < n; start += batchSize) {
    const count = Math.min(batchSize, n - start);
    const { x, y } = gatherBatch(features, labels, featureSize, order, start, count);
    const [pred, loss] = tf.tidy(() => {
      const logits = forward(x);
      return [tf.argMax(logits, 1), tf.mul(crossEntropy(logits, y), count)];
    });
    x.dispose();
    try {
      const p = await readView(pred);
      for (let i = 0; i < count; i++) if (p[i] === y[i]) correct++;
      lossSum += await readScalar(loss);
    } finally {
      pred.dispose();
      loss.dispose();
    }
  }
  return { accuracy: correct / n, loss: lossSum / n, n };
}
