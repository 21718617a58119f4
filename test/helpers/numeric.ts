import { expect } from 'vitest';
import type { Rng } from '../../src/util/rng.js';

/** n values from N(0, scale^2), float32. */
export function randomNormal(rng: Rng, n: number, scale = 1): Float32Array {
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = scale * rng.normal();
  return out;
}

/** n values uniform in [lo, hi), float32. */
export function randomUniform(rng: Rng, n: number, lo = 0, hi = 1): Float32Array {
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = lo + (hi - lo) * rng.next();
  return out;
}

/**
 * Elementwise |actual - expected| <= tol * max(|expected|, floor): relative error, with an
 * absolute floor so that values near zero are compared on the scale `floor`.
 * Fails with the worst index and both values.
 */
export function expectClose(actual: ArrayLike<number>, expected: ArrayLike<number>, tol: number, label = '', floor = 1): void {
  expect(actual.length, `${label}: length`).toBe(expected.length);
  let worst = -1;
  let worstRatio = 0;
  for (let i = 0; i < expected.length; i++) {
    const a = actual[i] as number;
    const e = expected[i] as number;
    if (!Number.isFinite(a) || !Number.isFinite(e)) {
      expect(a, `${label}: non-finite at ${i}`).toBe(e);
      continue;
    }
    const ratio = Math.abs(a - e) / (tol * Math.max(Math.abs(e), floor));
    if (ratio > worstRatio) {
      worstRatio = ratio;
      worst = i;
    }
  }
  if (worstRatio > 1) {
    expect.fail(
      `${label}: element ${worst} is ${actual[worst]}, expected ${expected[worst]} (error ${(worstRatio * tol).toExponential(2)} relative, tolerance ${tol})`,
    );
  }
}

/** Largest |a - b| over two equally long arrays. */
export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(a.length).toBe(b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs((a[i] as number) - (b[i] as number)));
  return m;
}
