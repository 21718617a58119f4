import * as tf from '@tensorflow/tfjs-core';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readCheckpoint } from '../src/model/checkpoint.js';
import type { Params } from '../src/model/params.js';
import { loadVit, saveVit, toInternal } from '../src/model/vit-checkpoint.js';
import { gelu, vitForward, vitParamShapes, type VitConfig } from '../src/model/vit.js';
import { compressCommand, KEPT_NEURONS_FILE, type KeptNeuronsFile } from '../src/proxy/compress-command.js';
import { compressFm, compressedLayers } from '../src/proxy/compress.js';
import { neuronSaliency, topKInOrder } from '../src/proxy/saliency.js';
import { initBackend } from '../src/tensor/backend.js';
import { UserError } from '../src/util/errors.js';
import { Rng } from '../src/util/rng.js';
import { randomWeights, tinyVit, toParams } from './helpers/kit.js';
import { expectClose, maxAbsDiff, randomNormal, randomUniform } from './helpers/numeric.js';
import { geluExact, hfShapes, referenceForward, refConfig, type HfTensor } from './helpers/vit-reference.js';

/** hidden 8, 4 layers, ff 32 = 4d (so keep 0.25 gives d'_ff = d), 4x4 one-channel images in 2x2 patches. */
const FM: VitConfig = tinyVit({ hiddenSize: 8, numHiddenLayers: 4, imageSize: 4, patchSize: 2, numLabels: 3 });
const D = FM.hiddenSize;
const FF = FM.intermediateSize;
const BATCH = 3;
const PIXELS = FM.numChannels * FM.imageSize * FM.imageSize;

/** HF-layout random weights (fan-in scaled, non-trivial biases and LayerNorm gains). */
function randomHf(cfg: VitConfig, rng: Rng): Map<string, HfTensor> {
  return randomWeights(hfShapes(refConfig(cfg)), rng, { weight: 'fan-in', layout: 'hf', bias: 0.2, layerNorm: 0.2, embedding: 0.5 });
}

const internal = (hf: ReadonlyMap<string, HfTensor>): Params => toParams(hf, toInternal);

function dispose(params: Params): void {
  for (const t of params.values()) t.dispose();
}

const get = (hf: ReadonlyMap<string, HfTensor>, name: string): Float32Array => (hf.get(name) as HfTensor).data;

/** Saliency straight from HF's layout: u_i = row i of intermediate [ff, d], w_i = column i of output [d, ff]. */
function hfSaliency(hf: ReadonlyMap<string, HfTensor>, layer: number, d: number, ff: number): number[] {
  const inter = get(hf, `vit.encoder.layer.${layer}.intermediate.dense.weight`);
  const outW = get(hf, `vit.encoder.layer.${layer}.output.dense.weight`);
  const s: number[] = [];
  for (let i = 0; i < ff; i++) {
    let acc = 0;
    for (let j = 0; j < d; j++) acc += (inter[i * d + j] as number) ** 2 + (outW[j * ff + i] as number) ** 2;
    s.push(Math.sqrt(acc));
  }
  return s;
}

/** Kept set by rank counting (not sorting): i is kept iff fewer than k neurons outrank it. */
function keptByRank(s: readonly number[], k: number): number[] {
  const kept: number[] = [];
  for (let i = 0; i < s.length; i++) {
    let above = 0;
    for (let j = 0; j < s.length; j++) if ((s[j] as number) > (s[i] as number) || (s[j] === s[i] && j < i)) above++;
    if (above < k) kept.push(i);
  }
  return kept;
}

/** The sub-FM in HF layout, sliced by hand from the FM's HF tensors. */
function sliceHf(hf: ReadonlyMap<string, HfTensor>, kept: Record<number, number[]>, d: number, ff: number): Map<string, HfTensor> {
  const out = new Map(hf);
  for (const [key, idx] of Object.entries(kept)) {
    const p = `vit.encoder.layer.${key}`;
    const inter = get(hf, `${p}.intermediate.dense.weight`);
    const b1 = get(hf, `${p}.intermediate.dense.bias`);
    const outW = get(hf, `${p}.output.dense.weight`);
    const k = idx.length;
    const inter2 = new Float32Array(k * d);
    const outW2 = new Float32Array(d * k);
    idx.forEach((i, r) => {
      for (let j = 0; j < d; j++) {
        inter2[r * d + j] = inter[i * d + j] as number;
        outW2[j * k + r] = outW[j * ff + i] as number;
      }
    });
    out.set(`${p}.intermediate.dense.weight`, { shape: [k, d], data: inter2 });
    out.set(`${p}.intermediate.dense.bias`, { shape: [k], data: Float32Array.from(idx, (i) => b1[i] as number) });
    out.set(`${p}.output.dense.weight`, { shape: [d, k], data: outW2 });
  }
  return out;
}

beforeAll(async () => {
  await initBackend('wasm', 'exact');
});

describe('neuronSaliency and topKInOrder', () => {
  it('saliency on the internal layout equals a double loop over the HF layout', () => {
    const rng = new Rng('saliency');
    const hf = randomHf(FM, rng);
    const params = internal(hf);
    for (let l = 0; l < FM.numHiddenLayers; l++) {
      const w1 = params.get(`vit.encoder.layer.${l}.intermediate.dense.weight`)?.dataSync() as Float32Array;
      const w2 = params.get(`vit.encoder.layer.${l}.output.dense.weight`)?.dataSync() as Float32Array;
      expectClose(neuronSaliency(w1, w2, D, FF), hfSaliency(hf, l, D, FF), 1e-12, `layer ${l}`);
    }
    dispose(params);
  });

  it('biases are not part of the score; a non-square shape is read the right way round', () => {
    // d = 2, ff = 3: W1 [2, 3], W2 [3, 2]. Neuron i: column i of W1, row i of W2.
    const w1 = Float32Array.from([1, 0, 2, 0, 3, 0]);
    const w2 = Float32Array.from([0, 1, 4, 0, 0, 0]);
    expect([...neuronSaliency(w1, w2, 2, 3)]).toEqual([Math.sqrt(2), 5, 2]);
    expect(() => neuronSaliency(w1, w2, 3, 3)).toThrow(RangeError);
  });

  it('topKInOrder: largest k, ties to the lower index, ascending output', () => {
    expect(topKInOrder([1, 3, 3, 2, 3], 2)).toEqual([1, 2]);
    expect(topKInOrder([1, 3, 3, 2, 3], 3)).toEqual([1, 2, 4]);
    expect(topKInOrder([5, 1, 4, 2], 2)).toEqual([0, 2]);
    expect(topKInOrder([5, 1, 4, 2], 0)).toEqual([]);
    expect(topKInOrder([5, 1, 4, 2], 4)).toEqual([0, 1, 2, 3]);
    expect(() => topKInOrder([1, 2], 3)).toThrow(RangeError);
    expect(() => topKInOrder([1, NaN], 1)).toThrow(RangeError);
  });
});

describe('compressFm', () => {
  let hf: Map<string, HfTensor>;
  let fm: Params;
  let sub: Awaited<ReturnType<typeof compressFm>>;

  beforeAll(async () => {
    hf = randomHf(FM, new Rng('compress'));
    fm = internal(hf);
    sub = await compressFm(FM, fm, { keep: 0.25 });
  });
  afterAll(() => {
    dispose(fm);
    dispose(sub.params);
  });

  it('keeps d_ff / 4 = d neurons of layers 1..L-2, chosen by saliency as a rank count over HF arrays', () => {
    expect(compressedLayers(FM, [0, 3])).toEqual([1, 2]);
    expect(Object.keys(sub.kept).map(Number)).toEqual([1, 2]);
    expect(sub.cfg).toEqual({ ...FM, intermediateSizes: [FF, D, D, FF] });
    for (const l of [1, 2]) expect(sub.kept[l], `layer ${l}`).toEqual(keptByRank(hfSaliency(hf, l, D, FF), D));
  });

  it('parameters: the shapes the sub config implies; sliced FFN tensors equal a hand slice; the rest bit-identical', () => {
    const shapes = vitParamShapes(sub.cfg as VitConfig);
    expect([...sub.params.keys()].sort()).toEqual([...shapes.keys()].sort());
    const expected = internal(sliceHf(hf, sub.kept, D, FF));
    for (const [name, t] of sub.params) {
      expect(t.shape, name).toEqual(shapes.get(name));
      expect(t.dataSync(), name).toEqual(expected.get(name)?.dataSync());
      // Retained layers, attention, LayerNorms, embeddings, head, b2: exactly the FM's.
      const sliced = /layer\.[12]\.(intermediate\.dense\.(weight|bias)|output\.dense\.weight)$/.test(name);
      if (!sliced) expect(t.dataSync(), name).toEqual(fm.get(name)?.dataSync());
    }
    dispose(expected);
  });

  it('does not dispose or alias the input', () => {
    for (const [name, t] of fm) {
      expect(t.isDisposed, name).toBe(false);
      expect(sub.params.get(name), name).not.toBe(t);
    }
  });

  it("a compressed layer's FFN equals the sum over kept neurons of the FM's per-neuron outputs, plus b2", () => {
    const rng = new Rng('ffn-x');
    const n = 5;
    const x = randomNormal(rng, n * D);
    for (const l of [1, 2]) {
      const p = `vit.encoder.layer.${l}`;
      const inter = get(hf, `${p}.intermediate.dense.weight`);
      const b1 = get(hf, `${p}.intermediate.dense.bias`);
      const outW = get(hf, `${p}.output.dense.weight`);
      const b2 = get(hf, `${p}.output.dense.bias`);
      const neuronOut = (r: number, i: number, j: number): number => {
        let z = b1[i] as number;
        for (let c = 0; c < D; c++) z += (x[r * D + c] as number) * (inter[i * D + c] as number);
        return geluExact(z) * (outW[j * FF + i] as number);
      };
      const expected = new Float64Array(n * D);
      const full = new Float64Array(n * D);
      for (let r = 0; r < n; r++) {
        for (let j = 0; j < D; j++) {
          let s = b2[j] as number;
          for (const i of sub.kept[l] as number[]) s += neuronOut(r, i, j);
          expected[r * D + j] = s;
          let f = b2[j] as number;
          for (let i = 0; i < FF; i++) f += neuronOut(r, i, j);
          full[r * D + j] = f;
        }
      }
      const got = tf.tidy(() => {
        const w = (name: string) => sub.params.get(`${p}.${name}`) as tf.Tensor;
        const h = gelu(tf.add(tf.matMul(tf.tensor2d(x, [n, D]), w('intermediate.dense.weight') as tf.Tensor2D), w('intermediate.dense.bias')));
        return tf.add(tf.matMul(h as tf.Tensor2D, w('output.dense.weight') as tf.Tensor2D), w('output.dense.bias'));
      });
      expectClose(got.dataSync(), expected, 1e-5, `layer ${l}`);
      got.dispose();
      // The dropped 3/4 of the neurons matter: the sub-FFN is not the full one.
      expect(maxAbsDiff(expected, full)).toBeGreaterThan(1e-2);
    }
  });

  it('the sub-FM runs forward and matches the plain-loop reference on the hand-sliced HF weights', () => {
    const rng = new Rng('compress-forward');
    const images = randomUniform(rng, BATCH * PIXELS);
    const before = tf.memory().numTensors;
    const logits = tf.tidy(() => vitForward(sub.cfg as VitConfig, sub.params, tf.tensor2d(images, [BATCH, PIXELS])));
    expect(logits.shape).toEqual([BATCH, FM.numLabels]);
    const got = Float32Array.from(logits.dataSync());
    logits.dispose();
    expect(tf.memory().numTensors).toBe(before);
    const expected = referenceForward(refConfig(sub.cfg as VitConfig), sliceHf(hf, sub.kept, D, FF), images, BATCH);
    expectClose(got, expected, 1e-4, 'sub-FM logits');
    const fmLogits = referenceForward(refConfig(FM), hf, images, BATCH);
    expect(maxAbsDiff(expected, fmLogits)).toBeGreaterThan(1e-3);
  });

  it('absolute counts, custom retained layers, keep = 1 keeps everything', async () => {
    const a = await compressFm(FM, fm, { keep: 5, retained: [2] });
    expect(Object.keys(a.kept).map(Number)).toEqual([0, 1, 3]);
    expect(a.cfg.intermediateSizes).toEqual([5, 5, FF, 5]);
    for (const l of [0, 1, 3]) expect(a.kept[l]).toEqual(keptByRank(hfSaliency(hf, l, D, FF), 5));
    dispose(a.params);
    const all = await compressFm(FM, fm, { keep: 1 });
    expect(all.kept[1]).toEqual(Array.from({ length: FF }, (_, i) => i));
    for (const [name, t] of all.params) expect(t.dataSync(), name).toEqual(fm.get(name)?.dataSync());
    dispose(all.params);
    // 0.1 * 32 = 3.2 -> 3 neurons (rounded).
    const r = await compressFm(FM, fm, { keep: 0.1 });
    expect(r.cfg.intermediateSizes).toEqual([FF, 3, 3, FF]);
    dispose(r.params);
  });

  it('rejects keep out of range and retained layers out of range', async () => {
    for (const keep of [0, -0.5, 1.5, FF + 1, NaN]) await expect(compressFm(FM, fm, { keep }), `keep ${keep}`).rejects.toThrow(RangeError);
    await expect(compressFm(FM, fm, { keep: 0.25, retained: [4] })).rejects.toThrow(RangeError);
    await expect(compressFm(FM, fm, { keep: 0.25, retained: [-1] })).rejects.toThrow(RangeError);
  });
});

describe('compressCommand', () => {
  let dir = '';
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'fedpft-compress-'));
  });
  afterAll(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('round trip: the written sub-FM loads back and kept-neurons.json matches', async () => {
    const hf = randomHf(FM, new Rng('compress-command'));
    const fm = internal(hf);
    const modelDir = join(dir, 'fm');
    await saveVit(modelDir, FM, fm, ['a', 'b', 'c']);
    const expected = await compressFm(FM, fm, { keep: 0.25 });
    const out = join(dir, 'sub');
    const before = tf.memory().numTensors;
    const { kept, sha256 } = await compressCommand({ model: modelDir, keep: 0.25, out });
    expect(tf.memory().numTensors).toBe(before);
    expect(sha256).toMatch(/^[0-9a-f]{64}$/);
    expect(kept).toEqual(expected.kept);

    const loaded = loadVit(out);
    expect(loaded.cfg).toEqual({ ...FM, intermediateSizes: [FF, D, D, FF] });
    expect(loaded.classNames).toEqual(['a', 'b', 'c']);
    expect(readCheckpoint(out).config['intermediate_sizes']).toEqual([FF, D, D, FF]);
    for (const [name, t] of expected.params) expect(loaded.params.get(name)?.dataSync(), name).toEqual(t.dataSync());

    const record = JSON.parse(readFileSync(join(out, KEPT_NEURONS_FILE), 'utf8')) as KeptNeuronsFile;
    expect(record).toEqual({ source: modelDir, keep: 0.25, retained: [0, 3], layers: { '1': expected.kept[1], '2': expected.kept[2] } });
    dispose(fm);
    dispose(expected.params);
    dispose(loaded.params);
  });

  it('bad input is a UserError', async () => {
    const fm = internal(randomHf(FM, new Rng('compress-bad')));
    const modelDir = join(dir, 'fm-bad');
    await saveVit(modelDir, FM, fm, ['a', 'b', 'c']);
    dispose(fm);
    const out = join(dir, 'bad-out');
    const bad: [string, () => Promise<unknown>][] = [
      ['keep 0', () => compressCommand({ model: modelDir, keep: 0, out })],
      ['keep 1.5', () => compressCommand({ model: modelDir, keep: 1.5, out })],
      ['keep > d_ff', () => compressCommand({ model: modelDir, keep: 64, out })],
      ['retained 4', () => compressCommand({ model: modelDir, keep: 0.25, retained: [0, 4], out })],
      ['out = model', () => compressCommand({ model: modelDir, keep: 0.25, out: modelDir })],
      ['missing model', () => compressCommand({ model: join(dir, 'nope'), keep: 0.25, out })],
    ];
    const before = tf.memory().numTensors;
    for (const [label, f] of bad) await expect(f(), label).rejects.toThrow(UserError);
    expect(tf.memory().numTensors).toBe(before);
    await expect(compressCommand({ model: modelDir, keep: 1.5, out })).rejects.toThrow(/--keep/);
    await expect(compressCommand({ model: modelDir, keep: 0.25, retained: [7], out })).rejects.toThrow(/--retained/);
  });
});
