import * as tf from '@tensorflow/tfjs-core';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readCheckpoint } from '../src/model/checkpoint.js';
import type { Params } from '../src/model/params.js';
import { loadVit, saveVit, toInternal } from '../src/model/vit-checkpoint.js';
import {
  LORA_TARGETS,
  initLoraParams,
  initVitParams,
  vitForward,
  vitForwardMacs,
  vitParamShapes,
  type ForwardOptions,
  type VitConfig,
} from '../src/model/vit.js';
import { initBackend } from '../src/tensor/backend.js';
import { Rng } from '../src/util/rng.js';
import { randomWeights, tinyVit, toParams } from './helpers/kit.js';
import { expectClose, maxAbsDiff, randomNormal, randomUniform } from './helpers/numeric.js';
import { conv2dPatches, erf, hfShapes, referenceForward, refConfig, type HfTensor, type RefLora } from './helpers/vit-reference.js';

/** hidden 8, 2 layers, 2 heads, ff 16, 4x4 images of 2 channels in 2x2 patches, 3 labels. */
const TINY: VitConfig = tinyVit({ hiddenSize: 8, intermediateSize: 16, imageSize: 4, patchSize: 2, numChannels: 2, numLabels: 3 });

/** 4 heads of width 2, no q/k/v biases, per-layer FFN widths, one channel, 3x3 patches of 6x6 images. */
const VARIANT: VitConfig = tinyVit({
  hiddenSize: 8,
  numAttentionHeads: 4,
  intermediateSize: 16,
  intermediateSizes: [16, 12],
  imageSize: 6,
  patchSize: 3,
  numLabels: 3,
  layerNormEps: 1e-6,
  qkvBias: false,
});

const CONFIGS: [string, VitConfig][] = [
  ['tiny', TINY],
  ['variant', VARIANT],
];

const BATCH = 3;
const LORA = { rank: 2, alpha: 4, dropout: 0.5 };

/**
 * Random parameters in HF's layout, scaled so that every path (attention, FFN, LayerNorm
 * affine, biases) moves the logits by O(1): HF's 0.02 init would hide most mistakes.
 */
function randomHfParams(cfg: VitConfig, rng: Rng): Map<string, HfTensor> {
  return randomWeights(hfShapes(refConfig(cfg)), rng, { weight: 'fan-in', layout: 'hf', bias: 0.2, layerNorm: 0.2, embedding: 0.5 });
}

const size = (shape: readonly number[]): number => shape.reduce((a, b) => a * b, 1);

/** HF layout -> internal tensors through the project's converter. */
const internalParams = (hf: ReadonlyMap<string, HfTensor>): Params => toParams(hf, toInternal);

/** Non-zero LoRA A [d, r] and B [r, d] for every target (internal layout). */
function randomLora(cfg: VitConfig, rng: Rng): Map<string, Float32Array> {
  const out = new Map<string, Float32Array>();
  const d = cfg.hiddenSize;
  for (let l = 0; l < cfg.numHiddenLayers; l++) {
    for (const t of LORA_TARGETS) {
      out.set(`vit.encoder.layer.${l}.${t}.lora_A.weight`, randomNormal(rng, d * LORA.rank, 0.5));
      out.set(`vit.encoder.layer.${l}.${t}.lora_B.weight`, randomNormal(rng, LORA.rank * d, 0.5));
    }
  }
  return out;
}

function withLora(params: Params, lora: ReadonlyMap<string, Float32Array>, d: number): Params {
  const all: Params = new Map(params);
  for (const [name, data] of lora) {
    all.set(name, tf.tensor(data, name.includes('lora_A') ? [d, LORA.rank] : [LORA.rank, d], 'float32'));
  }
  return all;
}

function forwardData(cfg: VitConfig, params: Params, images: Float32Array, opts: ForwardOptions = {}): Float32Array {
  const logits = tf.tidy(() => vitForward(cfg, params, tf.tensor2d(images, [images.length / pixelCount(cfg), pixelCount(cfg)]), opts));
  const out = Float32Array.from(logits.dataSync());
  logits.dispose();
  return out;
}

function pixelCount(cfg: VitConfig): number {
  return cfg.numChannels * cfg.imageSize * cfg.imageSize;
}

function disposeAll(...maps: Params[]): void {
  const seen = new Set<tf.Tensor>();
  for (const m of maps) for (const t of m.values()) seen.add(t);
  for (const t of seen) t.dispose();
}

beforeAll(async () => {
  await initBackend('wasm', 'exact');
  expect(tf.findBackend('cpu')).toBeTruthy();
});

describe('reference helpers', () => {
  it('erf matches known values to 1e-12', () => {
    const known: [number, number][] = [
      [0, 0],
      [0.1, 0.1124629160182849],
      [0.5, 0.5204998778130465],
      [1, 0.8427007929497149],
      [-1.5, -0.9661051464753108],
      [2, 0.9953222650189527],
      [2.9, 0.9999589021219005],
      [3, 0.9999779095030014],
      [3.5, 0.9999992569016276],
      [-5, -0.9999999999984626],
    ];
    for (const [x, v] of known) expect(Math.abs(erf(x) - v), `erf(${x})`).toBeLessThan(1e-12);
  });

  it('hfShapes lists exactly the tensors vitParamShapes implies, transposed where HF is [out, in]', () => {
    for (const [, cfg] of CONFIGS) {
      const hf = hfShapes(refConfig(cfg));
      const internal = vitParamShapes(cfg);
      expect([...hf.keys()].sort()).toEqual([...internal.keys()].sort());
      for (const [name, shape] of hf) {
        expect(toInternal(name, shape, new Float32Array(size(shape))).shape, name).toEqual(internal.get(name));
      }
    }
  });
});

for (const backend of ['cpu', 'wasm'] as const) {
  describe(`vitForward on ${backend} vs a plain-loop HF ViT`, () => {
    beforeAll(async () => {
      expect(await tf.setBackend(backend)).toBe(true);
    });

    for (const [label, cfg] of CONFIGS) {
      it(`${label}: logits match within 1e-4`, () => {
        expect(tf.getBackend()).toBe(backend);
        const rng = new Rng(`vit/${label}`);
        const hf = randomHfParams(cfg, rng);
        const images = randomUniform(rng, BATCH * pixelCount(cfg));
        const expected = referenceForward(refConfig(cfg), hf, images, BATCH);
        const params = internalParams(hf);
        const before = tf.memory().numTensors;
        const logits = forwardData(cfg, params, images);
        expect(tf.memory().numTensors).toBe(before);
        expect(logits.length).toBe(BATCH * cfg.numLabels);
        expectClose(logits, expected, 1e-4, `${label} logits`);
        // The reference is sensitive: the logits are O(1) and differ between images.
        expect(Math.max(...expected.map(Math.abs))).toBeGreaterThan(0.3);
        expect(maxAbsDiff(expected.subarray(0, cfg.numLabels), expected.subarray(cfg.numLabels, 2 * cfg.numLabels))).toBeGreaterThan(1e-2);
        disposeAll(params);
      });

      it(`${label}: with non-zero LoRA (y = xW + b + (alpha/r) x A B, dropout off) logits match within 1e-4`, () => {
        const rng = new Rng(`vit-lora/${label}`);
        const hf = randomHfParams(cfg, rng);
        const images = randomUniform(rng, BATCH * pixelCount(cfg));
        const lora = randomLora(cfg, rng);
        const refLora: RefLora = { rank: LORA.rank, alpha: LORA.alpha, tensors: lora };
        const expected = referenceForward(refConfig(cfg), hf, images, BATCH, refLora);
        const withoutLora = referenceForward(refConfig(cfg), hf, images, BATCH);
        expect(maxAbsDiff(expected, withoutLora)).toBeGreaterThan(1e-2);

        const base = internalParams(hf);
        const params = withLora(base, lora, cfg.hiddenSize);
        // No dropoutSeed: dropout is off even though the rate is 0.5.
        expectClose(forwardData(cfg, params, images, { lora: LORA }), expected, 1e-4, `${label} LoRA logits`);
        // Without the lora option the adapters are ignored.
        expectClose(forwardData(cfg, params, images), withoutLora, 1e-4, `${label} adapters ignored`);
        disposeAll(base, params);
      });
    }
  });
}

describe('vitForward gradients: wasm (patched kernels) vs cpu', () => {
  it('d(sum(logits * r)) / d(every parameter, LoRA included) agrees', async () => {
    const rng = new Rng('vit-grads');
    const hf = randomHfParams(TINY, rng);
    const lora = randomLora(TINY, rng);
    const images = randomUniform(rng, BATCH * pixelCount(TINY));
    const r = randomNormal(rng, BATCH * TINY.numLabels);
    const gradsOn = async (backend: 'cpu' | 'wasm'): Promise<Map<string, Float32Array>> => {
      expect(await tf.setBackend(backend)).toBe(true);
      const base = internalParams(hf);
      const params = withLora(base, lora, TINY.hiddenSize);
      const names = [...params.keys()].sort();
      const grads = tf.tidy(() => {
        const x = tf.tensor2d(images, [BATCH, pixelCount(TINY)]);
        const weights = tf.tensor2d(r, [BATCH, TINY.numLabels]);
        const f = (...ts: tf.Tensor[]): tf.Tensor => {
          const p: Params = new Map(names.map((n, i) => [n, ts[i] as tf.Tensor]));
          return tf.sum(tf.mul(vitForward(TINY, p, x, { lora: LORA }), weights));
        };
        return tf.grads(f)(names.map((n) => params.get(n) as tf.Tensor));
      });
      const out = new Map(names.map((n, i) => [n, Float32Array.from((grads[i] as tf.Tensor).dataSync())]));
      tf.dispose(grads);
      disposeAll(base, params);
      return out;
    };
    const cpu = await gradsOn('cpu');
    const wasm = await gradsOn('wasm');
    expect([...wasm.keys()]).toEqual([...cpu.keys()]);
    for (const [name, g] of cpu) expectClose(wasm.get(name) as Float32Array, g, 1e-3, name, 1e-2);
  });
});

describe('patch embedding is Conv2d(kernel = stride = patch) on the HF [d, C, p, p] weight', () => {
  for (const [label, cfg0] of CONFIGS) {
    it(`${label}: layer-0 output equals the conv output when everything else is zeroed`, async () => {
      await tf.setBackend('cpu');
      // One layer whose attention and FFN outputs are zero: its output is the embeddings.
      const cfg: VitConfig = { ...cfg0, numHiddenLayers: 1, intermediateSizes: undefined };
      const rng = new Rng(`conv/${label}`);
      const hf = randomHfParams(cfg, rng);
      for (const name of [
        'vit.embeddings.cls_token',
        'vit.embeddings.position_embeddings',
        'vit.encoder.layer.0.attention.output.dense.weight',
        'vit.encoder.layer.0.attention.output.dense.bias',
        'vit.encoder.layer.0.output.dense.weight',
        'vit.encoder.layer.0.output.dense.bias',
      ]) {
        (hf.get(name) as HfTensor).data.fill(0);
      }
      const images = randomUniform(rng, BATCH * pixelCount(cfg));
      const params = internalParams(hf);
      let hidden: { shape: number[]; data: Float32Array } | null = null;
      tf.tidy(() => {
        vitForward(cfg, params, tf.tensor2d(images, [BATCH, pixelCount(cfg)]), {
          onLayerOutput: (layer, h) => {
            expect(layer).toBe(0);
            hidden = { shape: h.shape.slice(), data: Float32Array.from(h.dataSync()) };
          },
        });
      });
      const got = hidden as { shape: number[]; data: Float32Array } | null;
      if (!got) throw new Error('onLayerOutput was not called');
      const d = cfg.hiddenSize;
      const g = cfg.imageSize / cfg.patchSize;
      const tokens = g * g + 1;
      expect(got.shape).toEqual([BATCH, tokens, d]);
      const weight = (hf.get('vit.embeddings.patch_embeddings.projection.weight') as HfTensor).data;
      const bias = (hf.get('vit.embeddings.patch_embeddings.projection.bias') as HfTensor).data;
      const px = pixelCount(cfg);
      for (let b = 0; b < BATCH; b++) {
        const conv = conv2dPatches(refConfig(cfg), weight, bias, images.subarray(b * px, (b + 1) * px));
        const expected = new Float64Array(tokens * d);
        conv.forEach((row, i) => expected.set(row, (i + 1) * d)); // token 0 is CLS (+ position), both zero here
        expectClose(got.data.subarray(b * tokens * d, (b + 1) * tokens * d), expected, 1e-5, `image ${b}`);
      }
      disposeAll(params);
    });
  }
});

describe('checkpoint round trip (saveVit -> loadVit)', () => {
  let dir = '';
  beforeAll(async () => {
    await tf.setBackend('cpu');
    dir = mkdtempSync(join(tmpdir(), 'fedpft-vit-'));
  });
  afterAll(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  for (const [label, cfg] of CONFIGS) {
    it(`${label}: identical params and logits; the file holds HF's layout`, async () => {
      const rng = new Rng(`ckpt/${label}`);
      const hf = randomHfParams(cfg, rng);
      const params = internalParams(hf);
      const images = randomUniform(rng, BATCH * pixelCount(cfg));
      const classNames = ['cat', 'dog', 'eel'];
      const out = join(dir, label);
      const { sha256 } = await saveVit(out, cfg, params, classNames);
      expect(sha256).toMatch(/^[0-9a-f]{64}$/);

      // The file: HF names, HF shapes ([out, in] linears, 4-D conv), and exactly the HF data
      // the internal params were converted from.
      const ckpt = readCheckpoint(out);
      expect([...ckpt.tensors.keys()].sort()).toEqual([...hf.keys()].sort());
      for (const [name, t] of hf) {
        const saved = ckpt.tensors.get(name);
        expect(saved?.shape, name).toEqual(t.shape);
        expect(saved?.data, name).toEqual(t.data);
      }
      expect(ckpt.tensors.get('vit.embeddings.patch_embeddings.projection.weight')?.shape).toEqual([
        cfg.hiddenSize,
        cfg.numChannels,
        cfg.patchSize,
        cfg.patchSize,
      ]);
      expect(ckpt.tensors.get('classifier.weight')?.shape).toEqual([cfg.numLabels, cfg.hiddenSize]);
      expect(ckpt.config['model_type']).toBe('vit');

      const loaded = loadVit(out);
      expect(loaded.cfg).toEqual(cfg);
      expect(loaded.classNames).toEqual(classNames);
      expect([...loaded.params.keys()].sort()).toEqual([...params.keys()].sort());
      for (const [name, t] of params) {
        const l = loaded.params.get(name) as tf.Tensor;
        expect(l.shape, name).toEqual(t.shape);
        expect(l.dataSync(), name).toEqual(t.dataSync());
      }
      expect(forwardData(loaded.cfg, loaded.params, images)).toEqual(forwardData(cfg, params, images));
      disposeAll(params, loaded.params);
    });
  }

  it('an initVitParams model survives the round trip bit for bit', async () => {
    const params = initVitParams(TINY, new Rng('init'));
    const out = join(dir, 'init');
    await saveVit(out, TINY, params, ['a', 'b', 'c']);
    const loaded = loadVit(out);
    for (const [name, t] of params) expect((loaded.params.get(name) as tf.Tensor).dataSync(), name).toEqual(t.dataSync());
    disposeAll(params, loaded.params);
  });
});

describe('dropout (LoRA path)', () => {
  it('same seed gives identical logits, different seeds differ, no seed is deterministic eval', async () => {
    await tf.setBackend('cpu');
    const rng = new Rng('dropout');
    const hf = randomHfParams(TINY, rng);
    const lora = randomLora(TINY, rng);
    const images = randomUniform(rng, BATCH * pixelCount(TINY));
    const base = internalParams(hf);
    const params = withLora(base, lora, TINY.hiddenSize);
    const opts = (dropoutSeed?: number): ForwardOptions => ({ lora: LORA, dropoutSeed });

    const a1 = forwardData(TINY, params, images, opts(11));
    const a2 = forwardData(TINY, params, images, opts(11));
    const b = forwardData(TINY, params, images, opts(12));
    const eval1 = forwardData(TINY, params, images, opts());
    const eval2 = forwardData(TINY, params, images, opts());

    expect(a2).toEqual(a1);
    expect(maxAbsDiff(a1, b)).toBeGreaterThan(1e-3);
    expect(eval2).toEqual(eval1);
    expect(maxAbsDiff(a1, eval1)).toBeGreaterThan(1e-3);
    const expectedEval = referenceForward(refConfig(TINY), hf, images, BATCH, { rank: LORA.rank, alpha: LORA.alpha, tensors: lora });
    expectClose(eval1, expectedEval, 1e-4, 'eval logits');
    disposeAll(base, params);
  });

  it('with B = 0 (initLoraParams) the adapters do not change the logits, with or without dropout', async () => {
    await tf.setBackend('cpu');
    const rng = new Rng('lora-init');
    const base = internalParams(randomHfParams(TINY, rng));
    const images = randomUniform(rng, BATCH * pixelCount(TINY));
    const adapters = initLoraParams(TINY, LORA.rank, rng);
    const params: Params = new Map([...base, ...adapters]);
    const plain = forwardData(TINY, base, images);
    expectClose(forwardData(TINY, params, images, { lora: LORA }), plain, 1e-6, 'eval');
    expectClose(forwardData(TINY, params, images, { lora: LORA, dropoutSeed: 5 }), plain, 1e-6, 'dropout');
    disposeAll(base, adapters);
  });
});

describe('vitForwardMacs', () => {
  it('equals a hand count for the tiny config', () => {
    // d = 8, 4 patches + CLS = 5 tokens, C*p*p = 8, ff = 16, 3 labels.
    //   patch embedding: 4 patches * 8 * 8           =  256
    //   per layer: q, k, v, o: 4 * 5 * 8 * 8         = 1280
    //              scores + context: 2 * 5 * 5 * 8   =  400
    //              FFN: 2 * 5 * 8 * 16               = 1280   -> 2960, two layers 5920
    //   classifier on CLS: 8 * 3                     =   24
    expect(vitForwardMacs(TINY)).toBe(256 + 5920 + 24);
    // LoRA rank 2 on 4 projections: 5 tokens * (8*2 + 2*8) each = 4 * 160 = 640 per layer.
    expect(vitForwardMacs(TINY, 2)).toBe(6200 + 2 * 640);
  });

  it('equals a hand count for the variant config (per-layer FFN widths)', () => {
    // d = 8, 4 patches + CLS = 5 tokens, C*p*p = 9.
    //   patch: 4 * 9 * 8 = 288; attention per layer 1280 + 400; FFN 2*5*8*16 = 1280, 2*5*8*12 = 960
    expect(vitForwardMacs(VARIANT)).toBe(288 + 2 * 1680 + 1280 + 960 + 24);
  });
});
