import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { maskBatch, packWindows, splitWindows, type SpecialIds } from '../src/pretrain/mlm-data.js';
import { Rng } from '../src/util/rng.js';
import { TINY_ENCODER } from './helpers/kit.js';
import { cli, tempDir } from './helpers/tiny-run.js';

const SPECIALS: SpecialIds = { cls: 2, sep: 3, mask: 4, special: new Set([0, 1, 2, 3, 4]), vocabSize: 50 };

describe('masked-LM data', () => {
  it('packs token streams end to end into [CLS] ... [SEP] windows, cutting each text and dropping the tail', () => {
    const tokenize = (t: string) => t.split(' ').map(Number);
    const w = packWindows(['10 11 12', '13 14 15 16 17', '18'], tokenize, 5, SPECIALS, 4);
    // stream (texts cut to 4 tokens): 10 11 12 13 14 15 16 18 -> windows of 3: [10 11 12] [13 14 15], tail [16 18] dropped
    expect(w.n).toBe(2);
    expect(Array.from(w.ids)).toEqual([2, 10, 11, 12, 3, 2, 13, 14, 15, 3]);
  });

  it('holds out every k-th window', () => {
    expect(splitWindows(7, 3)).toEqual({ train: [0, 1, 3, 4, 6], validation: [2, 5] });
  });

  it('masks ordinary tokens at the rate asked, 80/10/10, never specials, and is a pure function of the rng', () => {
    const length = 64;
    const n = 400;
    const ids = new Int32Array(n * length);
    const rng = new Rng('mlm-ids');
    for (let i = 0; i < ids.length; i++) ids[i] = i % length === 0 ? SPECIALS.cls : i % length === length - 1 ? SPECIALS.sep : 5 + rng.int(45);
    const windows = { ids, n, length };
    const all = Array.from({ length: n }, (_, i) => i);
    const batch = maskBatch(windows, all, SPECIALS, 0.15, new Rng('mask'));
    const ordinary = n * (length - 2);
    const chosen = batch.rows.length;
    // Binomial(ordinary, 0.15): 4 standard deviations.
    const sd = Math.sqrt(ordinary * 0.15 * 0.85);
    expect(Math.abs(chosen - 0.15 * ordinary)).toBeLessThan(4 * sd);
    let masked = 0;
    let kept = 0;
    let random = 0;
    batch.rows.forEach((flat, k) => {
      const r = Math.floor(flat / length);
      const j = flat % length;
      const original = ids[r * length + j] as number;
      expect(SPECIALS.special.has(original)).toBe(false);
      expect(batch.labels[k]).toBe(original);
      const input = batch.features[r * 3 * length + j] as number;
      if (input === SPECIALS.mask) masked++;
      else if (input === original) kept++;
      else {
        random++;
        expect(SPECIALS.special.has(input)).toBe(false);
      }
    });
    const p = (x: number, q: number) => Math.abs(x - q * chosen) < 4 * Math.sqrt(chosen * q * (1 - q));
    expect(p(masked, 0.8)).toBe(true);
    expect(p(random, 0.1 * (44 / 45))).toBe(true);
    expect(p(kept, 0.1 + 0.1 / 45)).toBe(true);
    // Unchosen positions and token types are untouched; every position of a packed window is attended.
    expect(batch.features.length).toBe(n * 3 * length);
    const chosenSet = new Set(batch.rows);
    for (let r = 0; r < n; r++) {
      for (let j = 0; j < length; j++) {
        if (!chosenSet.has(r * length + j)) expect(batch.features[r * 3 * length + j]).toBe(ids[r * length + j]);
        expect(batch.features[r * 3 * length + length + j]).toBe(0);
        expect(batch.features[r * 3 * length + 2 * length + j]).toBe(1);
      }
    }
    const again = maskBatch(windows, all, SPECIALS, 0.15, new Rng('mask'));
    expect(again.rows).toEqual(batch.rows);
    expect(again.features).toEqual(batch.features);
  });

  it('chooses one position when the draw chose none, so every step has a loss', () => {
    const windows = { ids: Int32Array.from([2, 7, 8, 3]), n: 1, length: 4 };
    const batch = maskBatch(windows, [0], SPECIALS, 1e-9, new Rng('none'));
    expect(Array.from(batch.rows)).toEqual([1]);
    expect(Array.from(batch.labels)).toEqual([7]);
    expect(batch.features[1]).toBe(SPECIALS.mask);
  });

  it('a pad id written in the corpus stays in its window, attended (mask 1) and never chosen for masking, as in HF', () => {
    const windows = { ids: Int32Array.from([2, 0, 7, 0, 3]), n: 1, length: 5 };
    const batch = maskBatch(windows, [0], SPECIALS, 1, new Rng('literal-pad'));
    expect(Array.from(batch.rows)).toEqual([2]);
    expect([batch.features[1], batch.features[3]]).toEqual([0, 0]);
    expect(Array.from(batch.features.subarray(10, 15))).toEqual([1, 1, 1, 1, 1]);
  });
});

function recipe(out: string): string {
  return JSON.stringify({
    objective: 'mlm',
    name: 'tiny-mlm',
    out,
    seed: 5,
    corpora: ['moby-dick'],
    maxTextsPerCorpus: 200,
    tokenizer: { vocabSize: 300 },
    arch: { ...TINY_ENCODER, numHiddenLayers: 1 },
    maxLength: 24,
    validationEvery: 10,
    epochs: 1,
    batchSize: 16,
    learningRate: 0.01,
    warmupSteps: 3,
    weightDecay: 0.01,
    checkpointEvery: 4,
    backend: 'wasm',
  });
}

describe('fedpft pretrain (masked LM)', () => {
  it('writes a loadable text FM with its tokenizer; a split, resumed run ends with the same weights; the loss falls', async () => {
    const work = tempDir('mlm');
    writeFileSync(join(work, 'straight.json'), recipe(join(work, 'straight')));
    writeFileSync(join(work, 'split.json'), recipe(join(work, 'split')));
    const straight = await cli(['pretrain', join(work, 'straight.json')]);
    expect(straight.code, straight.stderr).toBe(0);
    const first = await cli(['pretrain', join(work, 'split.json'), '--stop-after', '5']);
    expect(first.stdout).toMatch(/stopped at step 5\/\d+/);
    const second = await cli(['pretrain', join(work, 'split.json')]);
    expect(second.stdout).toMatch(/resuming tiny-mlm at step 5\//);
    const sums = (dir: string) => readFileSync(join(work, dir, 'SHA256SUMS'), 'utf8');
    expect(sums('split')).toBe(sums('straight'));
    expect(sums('straight')).toMatch(/tokenizer\.json/);
    const info = JSON.parse(readFileSync(join(work, 'straight', 'pretrain.json'), 'utf8')) as { steps: number; heldOutMaskedLoss: number; heldOutMaskedTokens: number };
    expect(info.steps).toBeGreaterThan(10);
    expect(info.heldOutMaskedTokens).toBeGreaterThan(0);
    // Uniform guessing over 300 tokens costs ln 300 = 5.7 nats; unigram statistics alone get well below.
    expect(info.heldOutMaskedLoss, JSON.stringify(info)).toBeLessThan(Math.log(300) - 0.5);
    const config = JSON.parse(readFileSync(join(work, 'straight', 'config.json'), 'utf8')) as Record<string, unknown>;
    expect(config).toMatchObject({ model_type: 'bert', vocab_size: 300, hidden_size: 16, max_position_embeddings: 24, pad_token_id: 0 });
  });

  it('continues pretraining from an FM directory (init): its tokenizer, architecture and weights', async () => {
    const work = tempDir('mlm-init');
    writeFileSync(join(work, 'base.json'), recipe(join(work, 'base')));
    const base = await cli(['pretrain', join(work, 'base.json')]);
    expect(base.code, base.stderr).toBe(0);
    const { tokenizer: _t, arch: _a, ...rest } = JSON.parse(recipe(join(work, 'more'))) as Record<string, unknown>;
    // A learning rate of 1e-9 leaves the weights where init put them, and the same seed draws the
    // same held-out masks: the held-out loss must then be the base FM's (a fresh init scores about ln 300).
    writeFileSync(join(work, 'more.json'), JSON.stringify({ ...rest, name: 'tiny-mlm-more', learningRate: 1e-9, init: join(work, 'base') }));
    const more = await cli(['pretrain', join(work, 'more.json')]);
    expect(more.code, more.stderr).toBe(0);
    expect(more.stdout).toContain(`continuing from ${join(work, 'base')}`);
    const read = (dir: string, file: string) => readFileSync(join(work, dir, file), 'utf8');
    expect(read('more', 'tokenizer.json')).toBe(read('base', 'tokenizer.json'));
    const arch = (dir: string) => {
      const c = JSON.parse(read(dir, 'config.json')) as Record<string, unknown>;
      return [c['vocab_size'], c['hidden_size'], c['num_hidden_layers'], c['intermediate_size'], c['max_position_embeddings']];
    };
    expect(arch('more')).toEqual(arch('base'));
    const info = (dir: string) => JSON.parse(read(dir, 'pretrain.json')) as { heldOutMaskedLoss: number; sha256: string; initSha256?: string };
    expect(info('more').initSha256).toBe(info('base').sha256);
    expect(Math.abs(info('more').heldOutMaskedLoss - info('base').heldOutMaskedLoss)).toBeLessThan(1e-4);
    expect(info('base').heldOutMaskedLoss).toBeLessThan(Math.log(300) - 0.5);

    for (const [extra, field] of [
      [{ arch: { ...TINY_ENCODER, numHiddenLayers: 1 } }, 'arch'],
      [{ init: join(work, 'nowhere') }, 'init'],
      [{ maxLength: 64 }, 'maxLength'],
    ] as const) {
      const file = join(work, `bad-${field}.json`);
      writeFileSync(file, JSON.stringify({ ...rest, init: join(work, 'base'), ...extra }));
      const r = await cli(['pretrain', file]);
      expect(r.code, r.stderr).toBe(2);
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
      expect(r.stderr).toContain(field);
    }
  });

  it('rejects an MLM recipe with a bad field in one line, exit 2', async () => {
    const work = tempDir('mlm-bad');
    const file = join(work, 'bad.json');
    writeFileSync(file, JSON.stringify({ ...JSON.parse(recipe(join(work, 'x'))), corpora: ['wikipedia'] }));
    const r = await cli(['pretrain', file]);
    expect(r.code).toBe(2);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toContain('corpora');
  });
});
