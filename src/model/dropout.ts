import * as tf from '@tensorflow/tfjs-core';
import seedrandom from 'seedrandom';

/**
 * tf.dropout(x, rate, undefined, seed) with the mask drawn in one tight loop.
 *
 * tfjs draws the mask through tf.randomUniform, one seedrandom alea call per element behind
 * three layers of wrappers, then runs add, floor and div over it. This draws the same alea sequence from the same seeded state
 * and applies the same float32 arithmetic, multiplier = floor(u + keep) / keep, so the result
 * is bit-identical (test/dropout.test.ts compares it with tf.dropout). Alea is one serial
 * chain, about 8 ns a value here, so the masks of a 16 x 128-token LoRA step (6.3M values)
 * still take about 50 ms of its 800.
 */
export function seededDropout<T extends tf.Tensor>(x: T, rate: number, seed: number): T {
  if (!(rate > 0 && rate < 1)) throw new Error(`dropout rate must be in (0, 1), got ${rate}`);
  return tf.mul(x, tf.tensor(dropoutMultiplier(x.size, rate, seed), x.shape, 'float32')) as T;
}

export function dropoutMultiplier(size: number, rate: number, seed: number): Float32Array {
  const keep = Math.fround(1 - rate);
  const scale = Math.fround(1 / keep);
  // tfjs seeds alea with the seed's string form (UniformRandom).
  let { c, s0, s1, s2 } = seedrandom.alea(String(seed), { state: true }).state() as { c: number; s0: number; s1: number; s2: number };
  const out = new Float32Array(size);
  for (let i = 0; i < size; i++) {
    // seedrandom's alea step, unrolled from its closure.
    const t = 2091639 * s0 + c * 2.3283064365386963e-10;
    s0 = s1;
    s1 = s2;
    c = t | 0;
    s2 = t - c;
    // floor(u + keep) is 1 or 0, and floor(v) >= 1 exactly when v >= 1.
    if (Math.fround(Math.fround(s2) + keep) >= 1) out[i] = scale;
  }
  return out;
}
