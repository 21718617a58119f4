import * as tf from '@tensorflow/tfjs-core';
import seedrandom from 'seedrandom';
import { AleaMask, type AleaState } from '../tensor/alea-mask.js';

/**
 * tf.dropout(x, rate, undefined, seed) with the mask drawn in one tight loop.
 *
 * tfjs draws the mask through tf.randomUniform, one seedrandom alea call per element behind
 * three layers of wrappers, then runs add, floor and div over it. This draws the same alea sequence from the same seeded state
 * and applies the same float32 arithmetic, multiplier = floor(u + keep) / keep, so the result
 * is bit-identical (test/dropout.test.ts compares it with tf.dropout). The loop runs in wasm
 * on 64-bit integers (src/tensor/alea-mask.ts): about 14 ns a value in JavaScript, where the
 * masks took a tenth of a ViT LoRA step.
 */
export function seededDropout<T extends tf.Tensor>(x: T, rate: number, seed: number): T {
  if (!(rate > 0 && rate < 1)) throw new Error(`dropout rate must be in (0, 1), got ${rate}`);
  return tf.mul(x, tf.tensor(dropoutMultiplier(x.size, rate, seed), x.shape, 'float32')) as T;
}

let masks: AleaMask | null = null;

export function dropoutMultiplier(size: number, rate: number, seed: number): Float32Array {
  const keep = Math.fround(1 - rate);
  // tfjs seeds alea with the seed's string form (UniformRandom).
  const state = seedrandom.alea(String(seed), { state: true }).state() as AleaState;
  masks ??= new AleaMask();
  // floor(u + keep) is 1 or 0, and floor(v) >= 1 exactly when v >= 1.
  return masks.multipliers(size, state, keep, Math.fround(1 / keep));
}
