import { describe, expect, it } from 'vitest';
import { lateGain } from '../src/experiments/groups.js';
import { pairedDifference, studentTCdf, studentTQuantile, verdict } from '../src/report/paired.js';

describe("Student's t", () => {
  it('0.975 quantiles match the printed table (df 1, 2, 4, 9, 29, 1000)', () => {
    const table: [number, number][] = [[1, 12.706204736], [2, 4.30265273], [4, 2.776445105], [9, 2.262157163], [29, 2.045229642], [1000, 1.962339081]];
    for (const [df, q] of table) expect(studentTQuantile(0.975, df), `df ${df}`).toBeCloseTo(q, 7);
  });

  it('the CDF is symmetric about 0 and inverts the quantile', () => {
    for (const df of [1, 3, 7.5, 40]) {
      expect(studentTCdf(0, df)).toBeCloseTo(0.5, 14);
      expect(studentTCdf(-1.3, df) + studentTCdf(1.3, df)).toBeCloseTo(1, 14);
      for (const p of [0.01, 0.3, 0.9, 0.999]) expect(studentTCdf(studentTQuantile(p, df), df)).toBeCloseTo(p, 10);
    }
    // df 1 is the Cauchy distribution: F(t) = 1/2 + atan(t) / pi.
    for (const t of [-5, -0.5, 2, 30]) expect(studentTCdf(t, 1)).toBeCloseTo(0.5 + Math.atan(t) / Math.PI, 12);
  });
});

describe('pairedDifference', () => {
  it('mean, sample sd, 95 % interval and seeds above, against a hand computation', () => {
    // d = [0.02, 0.02, -0.01, 0.04, 0.02]: mean 0.018, sd sqrt(1.28e-3 / 4), half-width t(0.975, 4) sd / sqrt(5).
    const d = pairedDifference([0.8, 0.82, 0.79, 0.85, 0.81], [0.78, 0.8, 0.8, 0.81, 0.79]);
    if (!d) throw new Error('no interval');
    const sd = Math.sqrt(1.28e-3 / 4);
    const half = (2.776445105 * sd) / Math.sqrt(5);
    expect(d.n).toBe(5);
    expect(d.mean).toBeCloseTo(0.018, 12);
    expect(d.sd).toBeCloseTo(sd, 12);
    expect(d.lo).toBeCloseTo(0.018 - half, 8);
    expect(d.hi).toBeCloseTo(0.018 + half, 8);
    expect(d.above).toBe(4);
    expect(verdict(d)).toBe('not separable');
  });

  it('held above zero, refuted below, none with fewer than two seeds', () => {
    const up = pairedDifference([0.9, 0.91, 0.92], [0.8, 0.8, 0.81]);
    const down = pairedDifference([0.8, 0.8, 0.81], [0.9, 0.91, 0.92]);
    if (!up || !down) throw new Error('no interval');
    expect(verdict(up)).toBe('held');
    expect(verdict(down)).toBe('refuted');
    expect(pairedDifference([0.5], [0.4])).toBeNull();
    expect(() => pairedDifference([0.5, 0.6], [0.4])).toThrow(RangeError);
  });
});

describe('lateGain (has a run plateaued?)', () => {
  const run = (accs: (number | undefined)[]) => accs.map((accuracy) => (accuracy === undefined ? {} : { accuracy }));
  it('the best of the last 20 % of evaluated rounds minus the best before them', () => {
    // 10 evaluations: the last 2 (0.8355, 0.836) against the best of the first 8 (0.827).
    expect(lateGain(run([0.43, 0.626, 0.7125, 0.6675, 0.7735, 0.779, 0.8135, 0.827, 0.8355, 0.836]))).toBeCloseTo(0.009, 12);
    // Rounds without evaluation do not count; 7 evaluations: the last 2 against the first 5.
    expect(lateGain(run([0.5, undefined, 0.6, 0.7, undefined, 0.72, 0.71, 0.715, 0.712]))).toBeCloseTo(0.715 - 0.72, 12);
  });

  it('needs two evaluations', () => {
    expect(lateGain(run([0.5]))).toBeNull();
    expect(lateGain(run([0.5, 0.6]))).toBeCloseTo(0.1, 12);
  });
});
