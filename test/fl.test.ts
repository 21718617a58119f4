import { describe, expect, it } from 'vitest';
import { fedAvg, type ClientUpdate } from '../src/fl/fedavg.js';
import { sampleClients } from '../src/fl/sampling.js';
import { roundLearningRate } from '../src/fl/schedule.js';
import { Rng } from '../src/util/rng.js';

const update = (clientId: number, weights: number[], numExamples: number): ClientUpdate => ({
  clientId,
  weights: Float32Array.from(weights),
  numExamples,
});

describe('fedAvg', () => {
  const updates = [update(0, [1, 2, 3], 1), update(1, [4, 5, 6], 3), update(2, [0, -2, 10], 4)];

  it('weighted: the data-size weighted mean (hand computation)', () => {
    // Total 8 examples: (1*1 + 3*4 + 4*0) / 8, (1*2 + 3*5 - 4*2) / 8, (1*3 + 3*6 + 4*10) / 8.
    const avg = fedAvg(updates, 'weighted');
    expect(avg).toBeInstanceOf(Float32Array);
    expect([...avg]).toEqual([13 / 8, 9 / 8, 61 / 8]);
  });

  it('uniform: the plain mean, ignoring data sizes', () => {
    const avg = fedAvg(updates, 'uniform');
    const expected = [5 / 3, 5 / 3, 19 / 3];
    expect(avg).toHaveLength(3);
    avg.forEach((v, i) => expect(v).toBe(Math.fround(expected[i] as number)));
  });

  it('weighted equals uniform when every client has the same data size', () => {
    const same = updates.map((u) => ({ ...u, numExamples: 5 }));
    expect(fedAvg(same, 'weighted')).toEqual(fedAvg(same, 'uniform'));
  });

  it('returns a copy of a single update, not the update itself', () => {
    const only = update(3, [0.1, -7, 1e-8], 9);
    const avg = fedAvg([only], 'weighted');
    expect(avg).toEqual(only.weights);
    expect(avg).not.toBe(only.weights);
  });

  it('is bit-identical whatever order the updates arrive in', () => {
    const rng = new Rng('fedavg-order');
    const many = Array.from({ length: 9 }, (_, id) =>
      update(id * 3 + 1, Array.from({ length: 257 }, () => (rng.next() - 0.5) * 10 ** (rng.int(7) - 3)), 1 + rng.int(500)),
    );
    for (const weighting of ['weighted', 'uniform'] as const) {
      const reference = fedAvg(many, weighting);
      for (let t = 0; t < 10; t++) {
        const shuffled = rng.shuffle([...many]);
        expect(fedAvg(shuffled, weighting)).toEqual(reference);
      }
      expect(fedAvg([...many].reverse(), weighting)).toEqual(reference);
    }
  });

  it('does not modify its inputs', () => {
    const copy = updates.map((u) => ({ ...u, weights: u.weights.slice() }));
    fedAvg([updates[2], updates[0], updates[1]] as ClientUpdate[], 'weighted');
    expect(updates).toEqual(copy);
  });

  it('throws on mismatched vector lengths, wherever the odd one is', () => {
    expect(() => fedAvg([update(0, [1, 2, 3], 1), update(1, [1, 2], 1)], 'weighted')).toThrow(/client 1 sent 2 values, expected 3/);
    // The odd one has the lowest id, so it sets the expected size and the other one is reported.
    expect(() => fedAvg([update(5, [1, 2, 3], 1), update(0, [1, 2, 3, 4], 1)], 'uniform')).toThrow(/client 5 sent 3 values, expected 4/);
  });

  it('throws on no updates and on zero total weight', () => {
    expect(() => fedAvg([], 'uniform')).toThrow(/at least one update/);
    expect(() => fedAvg([update(0, [1], 0), update(1, [2], 0)], 'weighted')).toThrow(/total weight is zero/);
    // Uniform weighting does not look at the data sizes.
    expect([...fedAvg([update(0, [1], 0), update(1, [2], 0)], 'uniform')]).toEqual([1.5]);
  });
});

describe('sampleClients', () => {
  it('returns k distinct ids in [0, n), ascending', () => {
    for (const [n, k] of [[12, 4], [100, 10], [5, 5], [7, 1]] as const) {
      for (let round = 1; round <= 20; round++) {
        const s = sampleClients(42, round, n, k);
        expect(s).toHaveLength(k);
        expect(new Set(s).size).toBe(k);
        expect(s.every((id) => Number.isInteger(id) && id >= 0 && id < n)).toBe(true);
        expect(s).toEqual([...s].sort((a, b) => a - b));
      }
    }
  });

  it('takes every client when k = n and refuses k > n', () => {
    expect(sampleClients(1, 3, 6, 6)).toEqual([0, 1, 2, 3, 4, 5]);
    expect(() => sampleClients(1, 3, 6, 7)).toThrow(RangeError);
  });

  it('is a function of (seed, round) only', () => {
    const a = sampleClients(7, 3, 100, 10);
    sampleClients(7, 1, 100, 10); // other draws in between change nothing
    sampleClients(8, 3, 100, 10);
    expect(sampleClients(7, 3, 100, 10)).toEqual(a);
  });

  it('differs across rounds and across seeds', () => {
    const rounds = Array.from({ length: 50 }, (_, i) => sampleClients(7, i + 1, 100, 10).join(','));
    expect(rounds[0]).not.toBe(rounds[1]);
    // 50 draws of 10 of 100 essentially never repeat.
    expect(new Set(rounds).size).toBe(50);
    expect(sampleClients(8, 1, 100, 10)).not.toEqual(sampleClients(7, 1, 100, 10));
  });

  it('samples every client with frequency k/n over many rounds', () => {
    const n = 12;
    const k = 4;
    const R = 3000;
    const counts = new Array<number>(n).fill(0);
    for (let round = 1; round <= R; round++) for (const id of sampleClients(2024, round, n, k)) counts[id] = (counts[id] as number) + 1;
    const p = k / n;
    const expected = R * p;
    // Each count is Binomial(R, p) (sd sqrt(R p (1 - p)) ~ 26 here); with the sum fixed at R k,
    // sum (c - e)^2 / (R p (1 - p)) is n / (n - 1) * chi-square with n - 1 = 11 degrees of freedom,
    // whose 99.9% quantile is about 34. The draws are seeded, so this cannot flake.
    const stat = counts.reduce((s, c) => s + (c - expected) ** 2, 0) / (R * p * (1 - p));
    expect(stat).toBeLessThan(34);
    for (const c of counts) expect(Math.abs(c / R - p)).toBeLessThan(0.035);
    expect(counts.reduce((s, c) => s + c, 0)).toBe(R * k);
  });
});

describe('roundLearningRate', () => {
  const lr0 = 0.03;

  it('linear, R = 5: 0.8, 0.6, 0.4, 0.2, 0.2 times lr0', () => {
    const rates = [1, 2, 3, 4, 5].map((r) => roundLearningRate(lr0, r, 5, 'linear'));
    [0.8, 0.6, 0.4, 0.2, 0.2].forEach((f, i) => expect(rates[i]).toBeCloseTo(f * lr0, 15));
  });

  it('linear: lr0 * (R - r) / R before the last round, which keeps the previous rate', () => {
    for (const R of [2, 3, 10, 500]) {
      const rates = Array.from({ length: R }, (_, i) => roundLearningRate(lr0, i + 1, R, 'linear'));
      for (let r = 1; r < R; r++) expect(rates[r - 1]).toBeCloseTo((lr0 * (R - r)) / R, 15);
      expect(rates[R - 1]).toBe(rates[R - 2]);
      expect(rates.every((x) => x > 0)).toBe(true);
      for (let i = 1; i < R; i++) expect(rates[i]).toBeLessThanOrEqual(rates[i - 1] as number);
    }
  });

  it('linear, R = 1: the single round trains at lr0 (the "previous" rate is the initial one, never 0)', () => {
    expect(roundLearningRate(lr0, 1, 1, 'linear')).toBe(lr0);
  });

  it('constant stays lr0 in every round', () => {
    for (const R of [1, 5, 30]) for (let r = 1; r <= R; r++) expect(roundLearningRate(lr0, r, R, 'constant')).toBe(lr0);
  });
});
