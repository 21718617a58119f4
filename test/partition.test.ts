import { describe, expect, it } from 'vitest';
import { labelCounts, partition, type Partition, type PartitionSpec } from '../src/data/partition.js';
import { formatPartitionTable, partitionJson } from '../src/data/partition-table.js';
import { UserError } from '../src/util/errors.js';
import { stream } from '../src/util/rng.js';

/** Uneven class sizes, so q is far from uniform; classes interleaved by a fixed stride, no Rng. */
const CLASS_SIZES = [900, 700, 600, 500, 400, 300, 250, 200, 100, 50];
const N = CLASS_SIZES.reduce((s, x) => s + x, 0);
const Q = CLASS_SIZES.map((x) => x / N);
const LABELS = (() => {
  const blocks = CLASS_SIZES.flatMap((size, c) => new Array<number>(size).fill(c));
  // 7 is coprime with N = 4000, so i -> 7i mod N is a permutation.
  return Int32Array.from(blocks, (_, i) => blocks[(7 * i) % N] as number);
})();

const SPECS: PartitionSpec[] = [
  { family: 'iid' },
  { family: 'dirichlet', alpha: 0.5 },
  { family: 'dirichlet-per-class', alpha: 0.5, minSize: 10 },
];

/** Label counts per client, counted here rather than with labelCounts. */
function shares(client: number[]): number[] {
  const counts = new Array<number>(10).fill(0);
  for (const i of client) counts[LABELS[i] as number]++;
  return counts.map((c) => c / client.length);
}

function sizes(p: Partition): number[] {
  return p.clients.map((c) => c.length);
}

describe('partition', () => {
  it('iid: sizes differ by at most one and cover every example', () => {
    const p = partition(LABELS.subarray(0, 1003), 10, 10, { family: 'iid' }, 3);
    expect(Math.max(...sizes(p)) - Math.min(...sizes(p))).toBeLessThanOrEqual(1);
    expect(new Set(p.clients.flat()).size).toBe(1003);
    expect(p.alpha).toBeNull();
  });

  for (const spec of SPECS) {
    it(`${spec.family}: disjoint, in range, sorted, covering, seeded`, () => {
      const p = partition(LABELS, 10, 20, spec, 7);
      const all = p.clients.flat();
      expect(new Set(all).size).toBe(all.length);
      expect(all.length).toBe(N);
      expect(all.every((i) => Number.isInteger(i) && i >= 0 && i < N)).toBe(true);
      for (const c of p.clients) expect(c).toEqual([...c].sort((a, b) => a - b));
      expect(p).toMatchObject({ family: spec.family, seed: 7, classOrder: [0, 1, 2, 3, 4, 5, 6, 7, 8, 9] });
      expect(partition(LABELS, 10, 20, spec, 7)).toEqual(p);
      expect(partition(LABELS, 10, 20, spec, 8).clients).not.toEqual(p.clients);
    });
  }

  it('dirichlet: a huge alpha gives every client nearly the global mix', () => {
    const p = partition(LABELS, 10, 20, { family: 'dirichlet', alpha: 1e6 }, 1);
    expect(sizes(p).every((s) => s === N / 20)).toBe(true);
    for (const client of p.clients) {
      const tv = shares(client).reduce((s, x, k) => s + Math.abs(x - (Q[k] as number)), 0) / 2;
      expect(tv).toBeLessThan(0.1);
    }
  });

  it('dirichlet: a small alpha gives highly skewed clients', () => {
    const p = partition(LABELS, 10, 40, { family: 'dirichlet', alpha: 0.05 }, 1);
    const maxShare = p.clients.map((c) => Math.max(...shares(c)));
    expect(maxShare.reduce((s, x) => s + x, 0) / maxShare.length).toBeGreaterThan(0.8);
  });

  it('dirichlet: leaves absent classes out of the class order', () => {
    const p = partition(LABELS, 12, 10, { family: 'dirichlet', alpha: 1 }, 1);
    expect(p.classOrder).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect(p.clients.flat().length).toBe(N);
  });

  it('dirichlet-per-class: respects minSize, and says when it cannot', () => {
    for (const seed of [1, 2, 3]) {
      const p = partition(LABELS, 10, 30, { family: 'dirichlet-per-class', alpha: 0.5, minSize: 40 }, seed);
      expect(Math.min(...sizes(p))).toBeGreaterThanOrEqual(40);
    }
    expect(() => partition(LABELS, 10, 10, { family: 'dirichlet-per-class', alpha: 0.01, minSize: 390 }, 1)).toThrow(
      /partition\.minSize/,
    );
    expect(() => partition(LABELS, 10, 10, { family: 'dirichlet-per-class', alpha: 1, minSize: 401 }, 1)).toThrow(UserError);
  });

  it('rejects impossible inputs', () => {
    expect(() => partition(LABELS.subarray(0, 5), 10, 6, { family: 'iid' }, 1)).toThrow(UserError);
    expect(() => partition(LABELS, 10, 0, { family: 'iid' }, 1)).toThrow(UserError);
    expect(() => partition(LABELS, 10, 4, { family: 'dirichlet', alpha: 0 }, 1)).toThrow(/partition\.alpha/);
    expect(() => partition(LABELS, 5, 4, { family: 'iid' }, 1)).toThrow(RangeError);
  });

  it('labelCounts matches a direct count', () => {
    const p = partition(LABELS, 10, 7, { family: 'dirichlet', alpha: 1 }, 4);
    labelCounts(p, LABELS, 10).forEach((counts, c) => {
      const client = p.clients[c] as number[];
      expect(counts.map((x) => x / client.length)).toEqual(shares(client));
    });
  });
});

describe('partition table', () => {
  const names = CLASS_SIZES.map((_, c) => `class${c}`);
  const p = partition(LABELS, 10, 5, { family: 'dirichlet', alpha: 1 }, 2);

  it('prints one row per client and a total row', () => {
    const lines = formatPartitionTable(p, LABELS, names).split('\n');
    expect(lines.find((l) => l.includes('class9'))).toBeDefined();
    const total = lines.find((l) => l.includes('total')) as string;
    expect(total.split('│').map((s) => s.trim()).filter(Boolean)).toEqual(['total', String(N), ...CLASS_SIZES.map(String)]);
    expect(lines.filter((l) => /^│\s+\d+ │/.test(l))).toHaveLength(5);
  });

  it('records the parameters and per-client counts as JSON', () => {
    const json = partitionJson(p, LABELS, names);
    expect(json).toMatchObject({ family: 'dirichlet', alpha: 1, seed: 2, classOrder: p.classOrder, classNames: names });
    expect(json.clients.map((c) => c.id)).toEqual([0, 1, 2, 3, 4]);
    for (const c of json.clients) expect(c.counts.reduce((s, x) => s + x, 0)).toBe(c.size);
    expect(JSON.parse(JSON.stringify(json))).toEqual(json);
  });
});

describe('Rng gamma and dirichlet', () => {
  it('gamma has mean and variance equal to its shape', () => {
    for (const shape of [0.3, 1, 4.5]) {
      const rng = stream(11, 'test-gamma', shape * 10);
      const xs = Array.from({ length: 40_000 }, () => rng.gamma(shape));
      const mean = xs.reduce((s, x) => s + x, 0) / xs.length;
      const variance = xs.reduce((s, x) => s + (x - mean) ** 2, 0) / xs.length;
      expect(Math.abs(mean - shape) / shape).toBeLessThan(0.03);
      expect(Math.abs(variance - shape) / shape).toBeLessThan(0.08);
    }
  });

  it('the mean of many Dirichlet draws is alpha / sum(alpha)', () => {
    for (const alphas of [[0.3, 1, 2.7], Q.map((q) => 0.5 * q)]) {
      const rng = stream(12, 'test-dirichlet', alphas.length);
      const sum = new Array<number>(alphas.length).fill(0);
      const draws = 20_000;
      for (let d = 0; d < draws; d++) rng.dirichlet(alphas).forEach((x, k) => (sum[k] = (sum[k] as number) + x));
      const total = alphas.reduce((s, a) => s + a, 0);
      sum.forEach((s, k) => expect(Math.abs(s / draws - (alphas[k] as number) / total)).toBeLessThan(0.01));
    }
  });
});
