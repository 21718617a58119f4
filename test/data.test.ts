import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { toShared, type LabelledExamples } from '../src/data/dataset.js';
import { readImageDataset } from '../src/data/image-datasets.js';
import type { DatasetName } from '../src/data/names.js';
import { imageDatasetInfo as datasetInfo } from '../src/data/image-datasets.js';
import { loadTask } from '../src/data/registry.js';
import { UserError } from '../src/util/errors.js';

const PIXELS = 784;

function classCounts(labels: Int32Array, numClasses = 10): number[] {
  const counts = new Array<number>(numClasses).fill(0);
  for (const l of labels) counts[l] = (counts[l] as number) + 1;
  return counts;
}

function sameBytes(a: ArrayBufferView, b: ArrayBufferView): boolean {
  return Buffer.compare(Buffer.from(a.buffer, a.byteOffset, a.byteLength), Buffer.from(b.buffer, b.byteOffset, b.byteLength)) === 0;
}

/** Every image keyed with its label, counted: two sets with equal multisets hold the same examples. */
function multiset(entries: Iterable<string>): Map<string, number> {
  const m = new Map<string, number>();
  for (const e of entries) m.set(e, (m.get(e) ?? 0) + 1);
  return m;
}

function* keys(d: LabelledExamples): Generator<string> {
  for (let i = 0; i < d.n; i++) yield `${d.labels[i]}|${d.features.subarray(i * PIXELS, (i + 1) * PIXELS).join(',')}`;
}

/** The mnist files read here, independently of the loader. */
function* rawMnistKeys(): Generator<string> {
  const root = dirname(createRequire(import.meta.url).resolve('mnist/package.json'));
  for (let c = 0; c < 10; c++) {
    const data = (JSON.parse(readFileSync(join(root, 'src/digits', `${c}.json`), 'utf8')) as { data: number[] }).data;
    for (let i = 0; i < data.length; i += PIXELS) yield `${c}|${Float32Array.from(data.slice(i, i + PIXELS)).join(',')}`;
  }
}

/** A prefix of length L should hold about L * (class share) of each class. */
function expectBalancedPrefix(d: LabelledExamples, full: number[], total: number): void {
  const counts = classCounts(d.labels);
  counts.forEach((count, c) => expect(Math.abs(count - (d.n * (full[c] as number)) / total)).toBeLessThan(2));
}

describe('mnist', () => {
  it('loads 10,000 28x28 images in [0,1] split 8,000 / 2,000', () => {
    const { train, validation } = loadTask('mnist');
    expect(train.n + validation.n).toBe(10_000);
    expect([train.n, validation.n]).toEqual([8000, 2000]);
    for (const d of [train, validation]) {
      expect([d.input, d.featureSize, d.numClasses]).toEqual([{ kind: 'image', channels: 1, height: 28, width: 28 }, PIXELS, 10]);
      expect(d.features.length).toBe(d.n * PIXELS);
      expect(d.labels.length).toBe(d.n);
      let min = Infinity;
      let max = -Infinity;
      for (const v of d.features) {
        min = Math.min(min, v);
        max = Math.max(max, v);
      }
      expect(min).toBeGreaterThanOrEqual(0);
      expect(max).toBeLessThanOrEqual(1);
      expect(max).toBeGreaterThan(0.9);
    }
  });

  it('splits disjointly and covers every image of the package files', () => {
    const { train, validation } = loadTask('mnist');
    const loaded = multiset([...keys(train), ...keys(validation)]);
    const raw = multiset(rawMnistKeys());
    expect(loaded.size).toBe(raw.size);
    for (const [key, count] of raw) expect(loaded.get(key)).toBe(count);
  });

  it('gives the identical split on a fresh read', () => {
    const a = readImageDataset('mnist');
    const b = readImageDataset('mnist');
    for (const part of ['train', 'validation'] as const) {
      expect(sameBytes(a[part].features, b[part].features)).toBe(true);
      expect(sameBytes(a[part].labels, b[part].labels)).toBe(true);
    }
  });

  it('puts about 20% of every class in validation', () => {
    const { train, validation } = loadTask('mnist');
    const t = classCounts(train.labels);
    const v = classCounts(validation.labels);
    v.forEach((count, c) => expect(Math.abs(count / (count + (t[c] as number)) - 0.2)).toBeLessThan(0.005));
  });

  it('keeps trainLimit and evalLimit prefixes class-balanced', () => {
    const full = loadTask('mnist');
    const trainFull = classCounts(full.train.labels);
    const validationFull = classCounts(full.validation.labels);
    for (const limit of [10, 50, 100, 777, 4000]) {
      const { train, validation } = loadTask('mnist', { trainLimit: limit, evalLimit: Math.min(limit, 2000) });
      expect(train.n).toBe(limit);
      expect(sameBytes(train.labels, full.train.labels.subarray(0, limit))).toBe(true);
      if (limit >= 10) expect(classCounts(train.labels).every((count) => count > 0)).toBe(true);
      expectBalancedPrefix(train, trainFull, full.train.n);
      expectBalancedPrefix(validation, validationFull, full.validation.n);
    }
    expect(loadTask('mnist', { trainLimit: 1e6 }).train.n).toBe(8000);
  });

  it('copies into SharedArrayBuffers', () => {
    const { validation } = loadTask('mnist', { evalLimit: 300 });
    const shared = toShared(validation);
    expect(shared.features.buffer).toBeInstanceOf(SharedArrayBuffer);
    expect(shared.labels.buffer).toBeInstanceOf(SharedArrayBuffer);
    expect(shared.n).toBe(300);
    expect(sameBytes(shared.features, validation.features)).toBe(true);
    expect(sameBytes(shared.labels, validation.labels)).toBe(true);
  });
});

describe('registry', () => {
  it('describes datasets without loading them', () => {
    expect(datasetInfo('fashion-mnist')).toMatchObject({ channels: 1, height: 28, width: 28, numClasses: 10 });
    expect(datasetInfo('fashion-mnist').classNames[9]).toBe('Ankle boot');
    expect(datasetInfo('mnist').classNames).toEqual(['0', '1', '2', '3', '4', '5', '6', '7', '8', '9']);
  });

  it('rejects unknown names and bad limits', () => {
    expect(() => loadTask('cifar1' as DatasetName)).toThrow(UserError);
    expect(() => loadTask('cifar1' as DatasetName)).toThrow(/mnist, fashion-mnist, spam, sotu-party, glue-sst2, .*, cifar100/);
    expect(() => loadTask('cifar10')).toThrow(/read from your files/);
    expect(() => loadTask('spam')).toThrow(/text dataset; it needs a text FM/);
    expect(() => loadTask('mnist', { trainLimit: 0 })).toThrow(UserError);
    expect(() => loadTask('mnist', { evalLimit: 2.5 })).toThrow(UserError);
  });
});

describe('fashion-mnist', () => {
  it('loads 60,000 / 10,000 images, 7,000 per class, no empty rows', () => {
    const { train, validation } = loadTask('fashion-mnist');
    expect([train.n, validation.n]).toEqual([60_000, 10_000]);
    expect(classCounts(train.labels)).toEqual(new Array(10).fill(6000));
    expect(classCounts(validation.labels)).toEqual(new Array(10).fill(1000));
    for (const d of [train, validation]) {
      expect(d.features.length).toBe(d.n * PIXELS);
      let max = 0;
      let min = Infinity;
      let blank = 0;
      for (let i = 0; i < d.n; i++) {
        let rowMax = 0;
        for (let p = i * PIXELS; p < (i + 1) * PIXELS; p++) {
          rowMax = Math.max(rowMax, d.features[p] as number);
          min = Math.min(min, d.features[p] as number);
        }
        if (rowMax === 0) blank++;
        max = Math.max(max, rowMax);
      }
      expect([min, max, blank]).toEqual([0, 1, 0]);
    }
    const limited = loadTask('fashion-mnist', { trainLimit: 500 });
    expectBalancedPrefix(limited.train, new Array(10).fill(6000), 60_000);
  });
});
