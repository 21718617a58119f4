import { describe, expect, it } from 'vitest';
import { fedAvg, type ClientUpdate } from '../src/fl/fedavg.js';
import { sampleClients } from '../src/fl/sampling.js';
import { PatchLedger } from '../src/fl/patch-ledger.js';
import { roundLearningRate, stepLearningRate } from '../src/fl/schedule.js';
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

describe('stepLearningRate (distillation and alignment)', () => {
  it("linear-warmup is HF's get_linear_schedule_with_warmup: 20 steps at ratio 0.048 warm up for 1 step", () => {
    // W = ceil(0.048 * 20) = 1: step 0 at 0, then (20 - s) / 19 of the peak.
    const rates = Array.from({ length: 20 }, (_, s) => stepLearningRate(1, s, 20, { kind: 'linear-warmup', warmupRatio: 0.048 }));
    expect(rates[0]).toBe(0);
    for (let s = 1; s < 20; s++) expect(rates[s]).toBeCloseTo((20 - s) / 19, 15);
  });

  it('linear-warmup, 200 steps at ratio 0.1: up over 20 steps, then down to 1/180 at the last', () => {
    const at = (s: number) => stepLearningRate(2, s, 200, { kind: 'linear-warmup', warmupRatio: 0.1 });
    expect([at(0), at(5), at(19), at(20), at(110), at(199)].map((x) => +x.toFixed(12))).toEqual([0, 0.5, 1.9, 2, 1, +(2 / 180).toFixed(12)]);
  });

  it('constant is the peak throughout; ratio 0 is a pure linear decay from the peak', () => {
    for (let s = 0; s < 10; s++) expect(stepLearningRate(3, s, 10, { kind: 'constant' })).toBe(3);
    expect(stepLearningRate(3, 0, 10, { kind: 'linear-warmup', warmupRatio: 0 })).toBe(3);
  });
});

describe('PatchLedger', () => {
  it('charges each client every patch published since it last downloaded (a hand count)', () => {
    const ledger = new PatchLedger(4);
    expect(ledger.catchUp([0, 1])).toBe(0);
    ledger.publish(100);
    ledger.publish(10);
    // Clients 0 and 1 missed both patches; client 3 too.
    expect(ledger.catchUp([0, 3])).toBe(2 * 110);
    ledger.publish(1);
    // Client 0 missed only the third; client 1 all three; client 2 all three.
    expect(ledger.catchUp([0, 1, 2])).toBe(1 + 111 + 111);
    expect(ledger.catchUp([0, 1, 2, 3])).toBe(1);
    expect(ledger.versions).toBe(3);
  });

  it('replayed from round records, it charges what the live ledger would', () => {
    const rounds = [
      { clients: [0, 1] },
      { clients: [1, 2], frozenPatchBytes: 7 },
      { clients: [0, 3] },
      { clients: [2, 3], frozenPatchBytes: 5 },
    ];
    const live = new PatchLedger(5);
    for (const r of rounds) {
      live.catchUp(r.clients);
      if (r.frozenPatchBytes !== undefined) live.publish(r.frozenPatchBytes);
    }
    const replayed = PatchLedger.replay(5, rounds);
    expect(replayed.catchUp([0, 1, 2, 3, 4])).toBe(live.catchUp([0, 1, 2, 3, 4]));
    // By hand: 0, 2 and 3 caught up after patch 1 (7 bytes) and before patch 2 (5); 1 and 4 never did.
    expect(PatchLedger.replay(5, rounds).catchUp([0, 1, 2, 3, 4])).toBe(5 + 12 + 5 + 5 + 12);
  });
});
