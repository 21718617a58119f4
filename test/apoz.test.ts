import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { initBertParams, type BertConfig } from '../src/model/bert.js';
import type { Params } from '../src/model/params.js';
import { initVitParams, vitForward, vitParamShapes, type LoraOptions, type VitConfig } from '../src/model/vit.js';
import { ffnActivationZeroCounts, pooledApoz, selectUpdatedNeurons, updatedNeuronCount, type ZeroCounts } from '../src/proxy/apoz.js';
import { initBackend } from '../src/tensor/backend.js';
import { Rng } from '../src/util/rng.js';
import { randomWeights, tinyBert, tinyVit, toParams } from './helpers/kit.js';
import { randomNormal, randomUniform } from './helpers/numeric.js';
import { geluExact } from './helpers/vit-reference.js';

/** 3 layers with different FFN widths (as in a sub-FM); 4x4 one-channel images in 2x2 patches: 5 tokens. */
const CFG: VitConfig = tinyVit({ hiddenSize: 8, numHiddenLayers: 3, intermediateSize: 16, intermediateSizes: [16, 12, 10], imageSize: 4, patchSize: 2, numLabels: 3 });
const D = CFG.hiddenSize;
const TOKENS = 5;
const PIXELS = 16;
const N = 7;
const LORA: LoraOptions = { rank: 2, alpha: 4, dropout: 0.1 };
/**
 * float32 GELU (tfjs erf, wasm and cpu alike) is exactly 0 for pre-activations below about
 * -5.54 (measured: -5.545 gives 0, -5.54 gives -1.7e-7); values in this band are ambiguous.
 */
const ZERO_EDGE: [number, number] = [-5.6, -5.5];

/**
 * Random weights; layers 1 and 2 have a zero attention output projection, so their FFN input is
 * LayerNorm_after(previous layer's output), computable by hand. In layer 1, neurons 0-2 have
 * b1 = -30 (always exactly 0) and neurons 3-6 have 12x input weights (often below the edge).
 */
function model(rng: Rng): Params {
  const weights = randomWeights(vitParamShapes(CFG), rng, { weight: 'fan-in', bias: 0.2, layerNorm: 0.2 });
  for (const [name, { shape, data }] of weights) {
    if (/layer\.[12]\.attention\.output\.dense/.test(name)) data.fill(0);
    if (name === 'vit.encoder.layer.1.intermediate.dense.bias') data.fill(-30, 0, 3);
    if (name === 'vit.encoder.layer.1.intermediate.dense.weight') {
      const ff = shape[1] as number;
      for (let j = 0; j < D; j++) for (let i = 3; i < 7; i++) data[j * ff + i] = 12 * (data[j * ff + i] as number);
    }
  }
  return toParams(weights);
}

/** Non-zero LoRA on layer 0's attention only (layers 1 and 2 keep their hand-computable FFN input). */
function withLayer0Lora(params: Params, rng: Rng): Params {
  const out: Params = new Map(params);
  for (const t of ['attention.attention.query', 'attention.attention.value', 'attention.output.dense']) {
    out.set(`vit.encoder.layer.0.${t}.lora_A.weight`, tf.tensor(randomNormal(rng, D * LORA.rank, 0.5), [D, LORA.rank]));
    out.set(`vit.encoder.layer.0.${t}.lora_B.weight`, tf.tensor(randomNormal(rng, LORA.rank * D, 0.5), [LORA.rank, D]));
  }
  return out;
}

const data = (params: Params, name: string): Float32Array => params.get(name)?.dataSync() as Float32Array;

/**
 * Hand-computed FFN pre-activations z and activations gelu(z) of layers 1 and 2, per
 * [position][neuron], from the previous layer's output captured with onLayerOutput.
 */
function handActivations(params: Params, images: Float32Array, lora?: LoraOptions): Map<number, { z: number[][]; a: number[][] }> {
  const captured = new Map<number, Float32Array>();
  tf.tidy(() => {
    vitForward(CFG, params, tf.tensor2d(images, [N, PIXELS]), {
      lora,
      onLayerOutput: (layer, h) => captured.set(layer, Float32Array.from(h.dataSync())),
    });
  });
  const out = new Map<number, { z: number[][]; a: number[][] }>();
  for (const l of [1, 2]) {
    const x = captured.get(l - 1) as Float32Array;
    const p = `vit.encoder.layer.${l}`;
    const gamma = data(params, `${p}.layernorm_after.weight`);
    const beta = data(params, `${p}.layernorm_after.bias`);
    const w1 = data(params, `${p}.intermediate.dense.weight`);
    const b1 = data(params, `${p}.intermediate.dense.bias`);
    const ff = CFG.intermediateSizes?.[l] as number;
    const z: number[][] = [];
    for (let r = 0; r < N * TOKENS; r++) {
      const row = Array.from(x.subarray(r * D, (r + 1) * D));
      const mean = row.reduce((s, v) => s + v, 0) / D;
      const variance = row.reduce((s, v) => s + (v - mean) ** 2, 0) / D;
      const h = row.map((v, j) => ((v - mean) / Math.sqrt(variance + CFG.layerNormEps)) * (gamma[j] as number) + (beta[j] as number));
      const zr: number[] = [];
      for (let i = 0; i < ff; i++) {
        let s = b1[i] as number;
        for (let j = 0; j < D; j++) s += (h[j] as number) * (w1[j * ff + i] as number);
        zr.push(s);
      }
      z.push(zr);
    }
    out.set(l, { z, a: z.map((zr) => zr.map(geluExact)) });
  }
  return out;
}

/**
 * Per-neuron bounds on the count: lo counts the values that are clearly zero (z below the
 * float32 edge band; |a| below eps by a relative 1e-4), hi adds the ambiguous ones, where
 * float32 rounding in the model could decide either way. The test requires lo <= got <= hi
 * and only a handful of ambiguous values in all, so it stays tight.
 */
function handCounts(hand: { z: number[][]; a: number[][] }, eps: number): { lo: number[]; hi: number[] } {
  const ff = (hand.z[0] as number[]).length;
  const lo = new Array<number>(ff).fill(0);
  const hi = new Array<number>(ff).fill(0);
  hand.z.forEach((zr, r) => {
    zr.forEach((z, i) => {
      const a = Math.abs((hand.a[r] as number[])[i] as number);
      const clear = eps === 0 ? z < ZERO_EDGE[0] : a < eps * (1 - 1e-4);
      const maybe = eps === 0 ? z < ZERO_EDGE[1] : a <= eps * (1 + 1e-4);
      if (clear) lo[i] = (lo[i] as number) + 1;
      if (maybe) hi[i] = (hi[i] as number) + 1;
    });
  });
  return { lo, hi };
}

function expectWithin(got: Float64Array, bounds: { lo: number[]; hi: number[] }, label: string): number {
  got.forEach((c, i) => {
    expect(c, `${label} neuron ${i}`).toBeGreaterThanOrEqual(bounds.lo[i] as number);
    expect(c, `${label} neuron ${i}`).toBeLessThanOrEqual(bounds.hi[i] as number);
  });
  return bounds.hi.reduce((s, h, i) => s + h - (bounds.lo[i] as number), 0);
}

beforeAll(async () => {
  await initBackend('wasm', 'exact');
});

describe('ffnActivationZeroCounts', () => {
  const EPS = 0.05;

  for (const withLora of [false, true]) {
    it(`counts match a hand loop over independently computed activations (eps = 0 and ${EPS})${withLora ? ', LoRA plugged in' : ''}`, async () => {
      const rng = new Rng(`apoz/${withLora}`);
      const base = model(rng);
      const params = withLora ? withLayer0Lora(base, rng) : base;
      const lora = withLora ? LORA : undefined;
      const images = randomUniform(rng, N * PIXELS);
      const hand = handActivations(params, images, lora);
      const x = tf.tensor2d(images, [N, PIXELS]);
      const before = tf.memory().numTensors;
      const exact = await ffnActivationZeroCounts(CFG, params, x, [1, 2], { eps: 0, lora });
      const loose = await ffnActivationZeroCounts(CFG, params, x, [2, 1], { eps: EPS, lora, batchSize: 3 });
      expect(tf.memory().numTensors).toBe(before);
      expect(exact.positions).toBe(N * TOKENS);
      expect(loose.positions).toBe(N * TOKENS);
      expect([...exact.zeros.keys()]).toEqual([1, 2]);
      let exactTotal = 0;
      let looseTotal = 0;
      let ambiguous = 0;
      for (const l of [1, 2]) {
        const h = hand.get(l) as { z: number[][]; a: number[][] };
        ambiguous += expectWithin(exact.zeros.get(l) as Float64Array, handCounts(h, 0), `layer ${l} eps 0`);
        ambiguous += expectWithin(loose.zeros.get(l) as Float64Array, handCounts(h, EPS), `layer ${l} eps ${EPS}`);
        (exact.zeros.get(l) as Float64Array).forEach((c, i) => expect((loose.zeros.get(l) as Float64Array)[i]).toBeGreaterThanOrEqual(c));
        exactTotal += (exact.zeros.get(l) as Float64Array).reduce((s, v) => s + v, 0);
        looseTotal += (loose.zeros.get(l) as Float64Array).reduce((s, v) => s + v, 0);
      }
      expect(ambiguous).toBeLessThanOrEqual(2);
      // The engineered neurons: 0-2 of layer 1 are always exactly 0, 3-6 sometimes.
      const l1 = exact.zeros.get(1) as Float64Array;
      expect([...l1.subarray(0, 3)]).toEqual([N * TOKENS, N * TOKENS, N * TOKENS]);
      const partial = [...l1.subarray(3, 7)];
      expect(partial.some((c) => c > 0 && c < N * TOKENS), `partial counts ${partial}`).toBe(true);
      // eps > 0 counts more.
      expect(looseTotal).toBeGreaterThan(exactTotal);
      x.dispose();
      for (const t of params.values()) t.dispose();
    });
  }

  it('LoRA changes the counts; batching and extra layers do not', async () => {
    const rng = new Rng('apoz/lora-batch');
    const base = model(rng);
    const params = withLayer0Lora(base, rng);
    const x = tf.tensor2d(randomUniform(rng, N * PIXELS), [N, PIXELS]);
    const one = await ffnActivationZeroCounts(CFG, params, x, [0, 1, 2], { eps: 0.1, lora: LORA });
    for (const batchSize of [1, 2, 7, 100]) {
      const b = await ffnActivationZeroCounts(CFG, params, x, [0, 2], { eps: 0.1, lora: LORA, batchSize });
      expect(b.positions).toBe(N * TOKENS);
      expect(b.zeros.get(0), `batch ${batchSize}`).toEqual(one.zeros.get(0));
      expect(b.zeros.get(2), `batch ${batchSize}`).toEqual(one.zeros.get(2));
      expect(b.zeros.has(1)).toBe(false);
    }
    expect(one.zeros.get(0)?.length).toBe(16);
    const noLora = await ffnActivationZeroCounts(CFG, params, x, [0, 1, 2], { eps: 0.1 });
    expect([...noLora.zeros.values()].map((z) => [...z])).not.toEqual([...one.zeros.values()].map((z) => [...z]));
    await expect(ffnActivationZeroCounts(CFG, params, x, [3], { eps: 0 })).rejects.toThrow(RangeError);
    await expect(ffnActivationZeroCounts(CFG, params, x, [1], { eps: -1 })).rejects.toThrow(RangeError);
    x.dispose();
    for (const t of params.values()) t.dispose();
  });

  it('exact zeros are rare with GELU on an unengineered model', async () => {
    // Observed (seeded, so fixed): 0 exact zeros out of 16 * 16 * 17 = 4352 (layer, position,
    // neuron) values with HF's init (pre-activations ~ 1e-2), and 0 of 4352 with fan-in
    // scaled N(0, 1/fan_in) weights (pre-activations ~ N(0, 1); float32 GELU is exactly 0 only
    // below about -5.54, probability ~ 1e-8). Hence the eps option.
    const cfg: VitConfig = { ...CFG, numHiddenLayers: 16, intermediateSizes: undefined, intermediateSize: 16, imageSize: 8, patchSize: 2 };
    const rng = new Rng('apoz/rare');
    const images = tf.tensor2d(randomUniform(rng, 1 * 64), [1, 64]);
    const layers = Array.from({ length: 16 }, (_, i) => i);
    for (const scaled of [false, true]) {
      const params = initVitParams(cfg, rng);
      if (scaled) {
        for (const [name, t] of params) {
          if (name.endsWith('.weight') && !name.includes('layernorm')) {
            params.set(name, tf.tensor(randomNormal(rng, t.size, 1 / Math.sqrt(t.shape[0] as number)), t.shape));
            t.dispose();
          }
        }
      }
      const r = await ffnActivationZeroCounts(cfg, params, images, layers, { eps: 0 });
      expect(r.positions).toBe(17);
      const zeros = [...r.zeros.values()].reduce((s, z) => s + z.reduce((a, b) => a + b, 0), 0);
      expect(zeros, scaled ? 'fan-in scaled' : 'HF init').toBe(0);
      for (const t of params.values()) t.dispose();
    }
    images.dispose();
  });
});

describe('pooledApoz', () => {
  it('= sum of zeros / sum of positions, per layer and neuron', () => {
    const a: ZeroCounts = { zeros: new Map([[1, Float64Array.from([0, 3, 5])], [4, Float64Array.from([1, 1])]]), positions: 10 };
    const b: ZeroCounts = { zeros: new Map([[4, Float64Array.from([0, 6])], [1, Float64Array.from([2, 0, 15])]]), positions: 30 };
    const pooled = pooledApoz([a, b]);
    expect([...pooled.keys()]).toEqual([1, 4]);
    expect([...(pooled.get(1) as Float64Array)]).toEqual([2 / 40, 3 / 40, 20 / 40]);
    expect([...(pooled.get(4) as Float64Array)]).toEqual([1 / 40, 7 / 40]);
    expect([...(pooledApoz([a]).get(1) as Float64Array)]).toEqual([0, 0.3, 0.5]);
    // The inputs are not modified.
    expect([...(a.zeros.get(1) as Float64Array)]).toEqual([0, 3, 5]);
  });

  it('rejects mismatched or empty reports', () => {
    const a: ZeroCounts = { zeros: new Map([[1, Float64Array.from([0, 3])]]), positions: 10 };
    expect(() => pooledApoz([])).toThrow(RangeError);
    expect(() => pooledApoz([a, { zeros: new Map([[1, Float64Array.from([0])]]), positions: 1 }])).toThrow(RangeError);
    expect(() => pooledApoz([a, { zeros: new Map([[2, Float64Array.from([0, 1])]]), positions: 1 }])).toThrow(RangeError);
    expect(() => pooledApoz([{ zeros: new Map([[1, Float64Array.from([0])]]), positions: 0 }])).toThrow(RangeError);
  });
});

describe('selectUpdatedNeurons', () => {
  it('picks the round(p * ff) neurons with the HIGHEST APoZ, ascending', () => {
    const apoz = Float64Array.from([0.1, 0.9, 0.3, 0.7, 0.2, 0.8, 0.05, 0.6]);
    expect(selectUpdatedNeurons(apoz, 0.5, new Rng('s'))).toEqual([1, 3, 5, 7]);
    expect(selectUpdatedNeurons(apoz, 0.3, new Rng('s'))).toEqual([1, 5]); // 2.4 -> 2
    expect(selectUpdatedNeurons(apoz, 0.8, new Rng('s'))).toEqual([1, 2, 3, 4, 5, 7]); // 6.4 -> 6
    expect(selectUpdatedNeurons(apoz, 0, new Rng('s'))).toEqual([]);
    expect(selectUpdatedNeurons(apoz, 1, new Rng('s'))).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
    expect(updatedNeuronCount(0.5, 7)).toBe(4); // 3.5 -> 4 (half up)
    expect(updatedNeuronCount(0.3, 10)).toBe(3); // 3.0000000000000004 -> 3
    expect(() => selectUpdatedNeurons(apoz, 1.1, new Rng('s'))).toThrow(RangeError);
  });

  it('ties are broken by the seeded shuffle: the same per seed, different across seeds, fair over seeds', () => {
    // Two clear winners (1 and 6), then four tied at 0.5 competing for two places.
    const apoz = Float64Array.from([0.5, 0.9, 0.5, 0.1, 0.5, 0.5, 0.9, 0]);
    const pick = (seed: string) => selectUpdatedNeurons(apoz, 0.5, new Rng(seed));
    const first = pick('seed-0');
    expect(first).toEqual(pick('seed-0'));
    expect(first).toContain(1);
    expect(first).toContain(6);
    expect(first.length).toBe(4);
    // The same rule written out: shuffle with the same stream, take the tied ones in that order.
    const order = new Rng('seed-0').shuffle([0, 1, 2, 3, 4, 5, 6, 7]);
    expect(first).toEqual([1, 6, ...order.filter((i) => apoz[i] === 0.5).slice(0, 2)].sort((a, b) => a - b));

    const picks = new Map<number, number>([[0, 0], [2, 0], [4, 0], [5, 0]]);
    const distinct = new Set<string>();
    const SEEDS = 400;
    for (let s = 0; s < SEEDS; s++) {
      const chosen = pick(`seed-${s}`);
      distinct.add(chosen.join(','));
      for (const i of chosen) if (picks.has(i)) picks.set(i, (picks.get(i) as number) + 1);
    }
    expect(distinct.size).toBe(6); // all C(4, 2) tie resolutions occur
    // Each tied neuron is picked in about half the seeds (binomial sd 10).
    for (const [i, c] of picks) expect(Math.abs(c - SEEDS / 2), `neuron ${i} picked ${c} times`).toBeLessThan(50);
  });
});

describe('ffnActivationZeroCounts on text', () => {
  beforeAll(async () => {
    await initBackend('wasm', 'exact');
  });

  it('counts the attended positions (the attention-mask plane): a literal pad id with mask 1 counts, padding does not', async () => {
    const cfg: BertConfig = tinyBert({ hiddenSize: 8, intermediateSize: 12, maxPositionEmbeddings: 6 });
    const params = initBertParams(cfg, new Rng('apoz-text'));
    // [ids | token types | attention mask] of 6 tokens: row 0 holds a literal pad id at position 2 (mask 1), 2 padding positions;
    // row 1 has 3 tokens and 3 padding positions.
    const x = tf.tensor2d(
      [
        [2, 5, 0, 7, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 0, 0],
        [2, 9, 3, 0, 0, 0, 0, 0, 1, 0, 0, 0, 1, 1, 1, 0, 0, 0],
      ],
      [2, 18],
    );
    for (const batchSize of [1, 2]) {
      // eps that every activation meets: each neuron's count is the number of positions counted.
      const all = await ffnActivationZeroCounts(cfg, params, x, [0, 1], { eps: 1e9, batchSize });
      expect(all.positions).toBe(7);
      for (const z of all.zeros.values()) expect(Array.from(z)).toEqual(new Array<number>(12).fill(7));
    }
    x.dispose();
    for (const t of params.values()) t.dispose();
  });
});
