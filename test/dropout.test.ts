import * as tf from '@tensorflow/tfjs-core';
import seedrandom from 'seedrandom';
import { describe, expect, it } from 'vitest';
import { dropoutMultiplier, seededDropout } from '../src/model/dropout.js';
import { initBackend } from '../src/tensor/backend.js';
import { Rng } from '../src/util/rng.js';
import { randomNormal } from './helpers/numeric.js';

const bits = (x: ArrayLike<number>): Buffer => Buffer.from(Float32Array.from(x).buffer);

describe.each(['cpu', 'wasm'] as const)('seeded dropout on the %s backend', (backend) => {
  it.each([
    [0.1, 1, [7, 13]],
    [0.1, 123457, [64, 128]],
    [0.5, 42, [3, 5, 11]],
    [0.9, 7919, [1000]],
  ] as const)('is bit-identical to tf.dropout (rate %f, seed %i), value and gradient', async (rate, seed, shape) => {
    await initBackend(backend, 'exact');
    const data = randomNormal(new Rng(`dropout/${seed}`), shape.reduce((a, b) => a * b, 1));
    const run = (f: (x: tf.Tensor) => tf.Tensor): [Buffer, Buffer] =>
      tf.tidy(() => {
        const x = tf.tensor(data, [...shape], 'float32');
        const y = f(x);
        const dx = tf.grad((v: tf.Tensor) => tf.sum(tf.mul(f(v), tf.tensor(data, [...shape]))))(x);
        return [bits(y.dataSync()), bits(dx.dataSync())];
      });
    const [ours, oursGrad] = run((x) => seededDropout(x, rate, seed));
    const [theirs, theirsGrad] = run((x) => tf.dropout(x, rate, undefined, seed));
    expect(ours.equals(theirs)).toBe(true);
    expect(oursGrad.equals(theirsGrad)).toBe(true);
  });
});

describe('dropout multiplier', () => {
  it('keeps about 1 - rate of the entries, each scaled by 1 / (1 - rate), and differs by seed', () => {
    const m = dropoutMultiplier(100_000, 0.1, 5);
    const kept = m.filter((v) => v !== 0);
    expect(kept.length / m.length).toBeGreaterThan(0.89);
    expect(kept.length / m.length).toBeLessThan(0.91);
    expect(new Set(kept)).toEqual(new Set([Math.fround(1 / Math.fround(0.9))]));
    expect(bits(dropoutMultiplier(1000, 0.1, 6)).equals(bits(m.subarray(0, 1000)))).toBe(false);
  });

  it('follows seedrandom\'s own alea generator over a long run (1M values)', () => {
    const [size, rate, seed] = [1_000_000, 0.3, 987654321];
    const keep = Math.fround(1 - rate);
    const scale = Math.fround(1 / keep);
    const next = seedrandom.alea(String(seed));
    const want = new Float32Array(size);
    for (let i = 0; i < size; i++) want[i] = Math.floor(Math.fround(Math.fround(next()) + keep)) >= 1 ? scale : 0;
    expect(bits(dropoutMultiplier(size, rate, seed)).equals(bits(want))).toBe(true);
  });

  it('rejects rates outside (0, 1)', () => {
    expect(() => seededDropout(tf.zeros([2]), 1, 3)).toThrow(/rate/);
  });
});
