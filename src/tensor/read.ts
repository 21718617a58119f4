import type * as tf from '@tensorflow/tfjs-core';

/*
 * Reads of tensor values, asynchronous on every backend: webgpu in Node has no synchronous read
 * (tfjs-webgpu's dataSync needs OffscreenCanvas), so one code path serves them all.
 */

/** A tensor's values in a Float32Array of the caller's own (the cpu backend shares its buffer with reads). */
export async function readFloats(t: tf.Tensor): Promise<Float32Array> {
  return new Float32Array((await t.data()) as Float32Array);
}

/** A tensor's values without a copy: read-only, and only until the tensor is disposed. */
export async function readView(t: tf.Tensor): Promise<Float32Array | Int32Array | Uint8Array> {
  return (await t.data()) as Float32Array | Int32Array | Uint8Array;
}

/** The value of a one-element tensor. */
export async function readScalar(t: tf.Tensor): Promise<number> {
  return ((await t.data()) as Float32Array)[0] as number;
}
