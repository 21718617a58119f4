/**
 * The tests' fixture kit: tiny model configs (one base, overridden where a test needs another
 * shape), seeded random weights (randomWeights for named tensors; numeric.ts's randomNormal and
 * randomUniform for plain vectors), and the readers of a finished run directory (its round
 * metrics, its outcome, the pinned golden outcome). Tests take these from here rather than
 * writing their own.
 */
import * as tf from '@tensorflow/tfjs-core';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { BertConfig } from '../../src/model/bert.js';
import type { Params } from '../../src/model/params.js';
import type { VitConfig } from '../../src/model/vit.js';
import type { RunSummary } from '../../src/report/summary-table.js';
import type { RoundRecord } from '../../src/results/run-dir.js';
import type { Rng } from '../../src/util/rng.js';
import { randomNormal } from './numeric.js';
import type { HfTensor } from './vit-reference.js';

// ---- tiny configs ----

/** The tiny encoder every tiny FM shares: 2 layers, d = 16, 2 heads, d_ff = 32. */
export const TINY_ENCODER = { hiddenSize: 16, numHiddenLayers: 2, numAttentionHeads: 2, intermediateSize: 32 } as const;

/** The tiny ViT (the runs' default FM, for MNIST-shaped images), with `overrides` where a test needs another shape. */
export function tinyVit(overrides: Partial<VitConfig> = {}): VitConfig {
  return { modelType: 'vit', ...TINY_ENCODER, imageSize: 28, patchSize: 7, numChannels: 1, numLabels: 10, layerNormEps: 1e-12, qkvBias: true, ...overrides };
}

/** The tiny BERT (20 tokens, 10 positions, pad id 0, no dropout, 2 labels), with `overrides` (a RoBERTa: modelType 'roberta'). */
export function tinyBert(overrides: Partial<BertConfig> = {}): BertConfig {
  return {
    modelType: 'bert',
    vocabSize: 20,
    ...TINY_ENCODER,
    maxPositionEmbeddings: 10,
    typeVocabSize: 2,
    layerNormEps: 1e-12,
    padTokenId: 0,
    hiddenDropoutProb: 0,
    numLabels: 2,
    ...overrides,
  };
}

// ---- seeded random weights ----

/**
 * Standard deviations of randomWeights' normal draws, by kind of tensor. Tests draw weights far
 * larger than HF's 0.02 init so that every path (attention, FFN, LayerNorm affine, biases) moves
 * the outputs by O(1): a small init would hide most mistakes.
 */
export interface WeightScales {
  /** Dense, embedding and head weights: a standard deviation, or 'fan-in' for 1/sqrt(fan-in). */
  weight: number | 'fan-in';
  /** Where fan-in is read from a shape: 'internal' [in, out] (the default), 'hf' [out, in, ...] (PyTorch's). */
  layout?: 'internal' | 'hf';
  bias: number;
  /** LayerNorm gains are 1 + N(0, layerNorm^2). */
  layerNorm: number;
  /** ViT's cls token and position embeddings; default: as `weight`. */
  embedding?: number;
}

const isLayerNormGain = (name: string) => /layer_?norm[^.]*\.weight$/i.test(name);
/** Tested after biases: the cls token and position embeddings, not the patch projection. */
const isVitEmbedding = (name: string) => name.includes('embeddings.') && !name.endsWith('.weight');
const product = (shape: readonly number[]) => shape.reduce((a, b) => a * b, 1);

/**
 * One normal draw per value of every named shape, in the shapes' order, from one seeded stream;
 * the tensors keep the shapes' layout (HF's or the internal one).
 */
export function randomWeights(shapes: Iterable<[string, number[]]>, rng: Rng, scales: WeightScales): Map<string, HfTensor> {
  const out = new Map<string, HfTensor>();
  for (const [name, shape] of shapes) {
    const n = product(shape);
    let data: Float32Array;
    if (isLayerNormGain(name)) data = randomNormal(rng, n, scales.layerNorm).map((v) => 1 + v);
    else if (name.endsWith('.bias')) data = randomNormal(rng, n, scales.bias);
    else if (scales.embedding !== undefined && isVitEmbedding(name)) data = randomNormal(rng, n, scales.embedding);
    else if (scales.weight !== 'fan-in') data = randomNormal(rng, n, scales.weight);
    else data = randomNormal(rng, n, 1 / Math.sqrt(scales.layout === 'hf' ? product(shape.slice(1)) : (shape[0] as number)));
    out.set(name, { shape, data });
  }
  return out;
}

/** The weights as float32 tensors, each first through `convert` where given (e.g. HF layout to internal). */
export function toParams(weights: Iterable<[string, HfTensor]>, convert?: (name: string, shape: number[], data: Float32Array) => HfTensor): Params {
  const params: Params = new Map();
  for (const [name, w] of weights) {
    const { shape, data } = convert ? convert(name, w.shape, w.data) : w;
    params.set(name, tf.tensor(data, shape, 'float32'));
  }
  return params;
}

// ---- a finished run directory ----

/** One line of rounds.jsonl less its wall-clock fields: what must be bit-identical between equivalent runs. */
export type RoundMetrics = Omit<RoundRecord, 'wallSeconds' | 'clientTrainSeconds'>;

/** What a run must reproduce: its round metrics and final weights. */
export interface Outcome {
  rounds: RoundMetrics[];
  finalWeightsSha256: string;
}

/** rounds.jsonl, every field. */
export function roundRecords<T = RoundRecord>(runDir: string): T[] {
  return readFileSync(join(runDir, 'rounds.jsonl'), 'utf8')
    .trim()
    .split('\n')
    .map((line) => JSON.parse(line) as T);
}

/** rounds.jsonl without the wall-clock fields (FedPFT's alignSeconds included), the part that must be bit-identical. */
export function roundMetrics(runDir: string): RoundMetrics[] {
  return roundRecords(runDir).map(({ wallSeconds: _w, clientTrainSeconds: _c, ...rest }) => {
    if (rest.method) {
      const { alignSeconds: _a, ...method } = rest.method;
      rest.method = method;
    }
    return rest;
  });
}

/** summary.json. */
export function summaryOf<T = RunSummary>(runDir: string): T {
  return JSON.parse(readFileSync(join(runDir, 'summary.json'), 'utf8')) as T;
}

export function outcome(runDir: string): Outcome {
  return { rounds: roundMetrics(runDir), finalWeightsSha256: summaryOf(runDir).finalWeightsSha256 };
}

/** The outcome of the tiny FedPETuning scenario (tinyScenario on makeTinyFm's FM), pinned by test/determinism.test.ts. */
export const GOLDEN_FILE = fileURLToPath(new URL('../golden/tiny-fedpetuning.json', import.meta.url));

export function golden(): Outcome {
  return JSON.parse(readFileSync(GOLDEN_FILE, 'utf8')) as Outcome;
}
