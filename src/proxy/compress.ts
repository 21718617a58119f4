import * as tf from '@tensorflow/tfjs-core';
import { mustGet, type Params } from '../model/params.js';
import { encoderFfnWidth as ffnWidth, encoderLayerPrefix, type ModelConfig } from '../model/encoder.js';
import { neuronSaliency, topKInOrder } from './saliency.js';
import { readView } from '../tensor/read.js';

/**
 * FedPFT's sub-FM construction (METHOD.md, FedPFT section 1): the FFN of every layer except
 * the retained ones keeps its top-k neurons by saliency, in their original order. For a kept
 * set S: W1' = W1[:, S], b1' = b1[S], W2' = W2[S, :], b2' = b2. Everything else (attention,
 * embeddings, LayerNorms, head, retained layers, and any other tensor in the params such as
 * LoRA adapters) is copied unchanged.
 */
export interface CompressOptions {
  /**
   * Neurons kept per compressed layer: a fraction in (0, 1] of that layer's width, rounded to
   * the nearest integer (half up) and at least 1, or an absolute integer count when > 1.
   * `keep: 1` therefore means every neuron. The paper's setting d'_ff = d_model is keep = 0.25
   * when d_ff = 4 d (or keep = hiddenSize).
   */
  keep: number;
  /** Layers kept whole; default [0, L - 1] (the paper: first and last). */
  retained?: number[];
}

export interface CompressedFm {
  cfg: ModelConfig;
  params: Params;
  /** Compressed layer -> kept neuron indices in the input model's numbering, ascending. */
  kept: Record<number, number[]>;
}

export function defaultRetained(cfg: ModelConfig): number[] {
  const last = cfg.numHiddenLayers - 1;
  return last > 0 ? [0, last] : [0];
}

/** The layers whose FFN is compressed: all but the retained ones, ascending. */
export function compressedLayers(cfg: ModelConfig, retained: readonly number[] = defaultRetained(cfg)): number[] {
  const keep = new Set(retained);
  return Array.from({ length: cfg.numHiddenLayers }, (_, i) => i).filter((i) => !keep.has(i));
}

/** Why the options do not fit the model, or null; the field is the option's name. */
export function checkCompressOptions(cfg: ModelConfig, opts: CompressOptions): { field: 'keep' | 'retained'; message: string } | null {
  const { keep } = opts;
  if (!Number.isFinite(keep) || keep <= 0) return { field: 'keep', message: `expected a fraction in (0, 1] or an integer count > 1, got ${keep}` };
  if (keep > 1 && !Number.isInteger(keep)) return { field: 'keep', message: `a count above 1 must be an integer, got ${keep}` };
  const L = cfg.numHiddenLayers;
  const retained = opts.retained ?? defaultRetained(cfg);
  for (const r of retained) {
    if (!Number.isInteger(r) || r < 0 || r >= L) return { field: 'retained', message: `layer ${r} is not in [0, ${L - 1}]` };
  }
  for (const l of compressedLayers(cfg, retained)) {
    const ff = ffnWidth(cfg, l);
    if (keep > ff) return { field: 'keep', message: `cannot keep ${keep} of the ${ff} neurons of layer ${l}` };
  }
  return null;
}

/** Neurons kept in a layer of width ff. */
export function keptCount(keep: number, ff: number): number {
  return keep > 1 ? keep : Math.max(1, Math.round(keep * ff));
}

/** The kept neurons of one layer: top-k saliency, original order. */
export async function selectKeptNeurons(params: Params, cfg: ModelConfig, layer: number, k: number): Promise<number[]> {
  const p = encoderLayerPrefix(cfg, layer);
  const ff = ffnWidth(cfg, layer);
  const w1 = (await readView(mustGet(params, `${p}.intermediate.dense.weight`))) as Float32Array;
  const w2 = (await readView(mustGet(params, `${p}.output.dense.weight`))) as Float32Array;
  return topKInOrder(neuronSaliency(w1, w2, cfg.hiddenSize, ff), k);
}

/** Builds the sub-FM; the input params are neither modified nor disposed, the output holds fresh tensors. */
export async function compressFm(cfg: ModelConfig, params: Params, opts: CompressOptions): Promise<CompressedFm> {
  const problem = checkCompressOptions(cfg, opts);
  if (problem) throw new RangeError(`compressFm: ${problem.field}: ${problem.message}`);
  const retained = opts.retained ?? defaultRetained(cfg);
  const kept: Record<number, number[]> = {};
  for (const l of compressedLayers(cfg, retained)) kept[l] = await selectKeptNeurons(params, cfg, l, keptCount(opts.keep, ffnWidth(cfg, l)));

  // name -> [layer, axis] for the tensors that are sliced.
  const sliced = new Map<string, [number, number]>();
  for (const key of Object.keys(kept)) {
    const l = Number(key);
    const p = encoderLayerPrefix(cfg, l);
    sliced.set(`${p}.intermediate.dense.weight`, [l, 1]);
    sliced.set(`${p}.intermediate.dense.bias`, [l, 0]);
    sliced.set(`${p}.output.dense.weight`, [l, 0]);
  }
  const out: Params = new Map();
  for (const [name, t] of params) {
    const s = sliced.get(name);
    if (!s) {
      out.set(name, tf.clone(t));
      continue;
    }
    const [l, axis] = s;
    out.set(
      name,
      tf.tidy(() => tf.gather(t, tf.tensor1d(kept[l] as number[], 'int32'), axis)),
    );
  }
  const intermediateSizes = Array.from({ length: cfg.numHiddenLayers }, (_, l) => kept[l]?.length ?? ffnWidth(cfg, l));
  return { cfg: { ...cfg, intermediateSizes }, params: out, kept };
}
