import * as tf from '@tensorflow/tfjs-core';
import { UserError } from '../util/errors.js';
import type { Checkpoint } from './checkpoint.js';
import type { Params } from './params.js';

/** What ViT and BERT/RoBERTa checkpoint IO share: config.json fields, the [out,in] <-> [in,out] swap, tensor checks. */

export interface HfConfigReader {
  num(key: string, fallback?: number): number;
  /** Sizes and counts: a negative or fractional one can otherwise still match the tensors' shapes. */
  count(key: string, fallback?: number): number;
}

export function hfConfigReader(json: Record<string, unknown>, file: string): HfConfigReader {
  const num = (key: string, fallback?: number): number => {
    const v = json[key] ?? fallback;
    if (typeof v !== 'number' || !Number.isFinite(v)) throw new UserError(file, key, `expected a number, got ${JSON.stringify(v)}`);
    return v;
  };
  const count = (key: string, fallback?: number): number => {
    const v = num(key, fallback);
    if (!Number.isSafeInteger(v) || v < 1) throw new UserError(file, key, `expected a positive integer, got ${JSON.stringify(v)}`);
    return v;
  };
  return { num, count };
}

/** The checks every encoder config shares; returns the label count. */
export function checkEncoderConfig(
  json: Record<string, unknown>,
  file: string,
  cfg: { hiddenSize: number; numAttentionHeads: number; layerNormEps: number; numHiddenLayers: number; intermediateSizes?: number[] },
): void {
  const act = json['hidden_act'] ?? 'gelu';
  if (act !== 'gelu') throw new UserError(file, 'hidden_act', `only "gelu" is supported, got ${JSON.stringify(act)}`);
  const sizes = json['intermediate_sizes'];
  if (sizes !== undefined) {
    if (!Array.isArray(sizes) || sizes.length !== cfg.numHiddenLayers || !sizes.every((s) => Number.isInteger(s) && s > 0)) {
      throw new UserError(file, 'intermediate_sizes', `expected ${cfg.numHiddenLayers} positive integers`);
    }
    cfg.intermediateSizes = sizes as number[];
  }
  if (!(cfg.layerNormEps > 0)) throw new UserError(file, 'layer_norm_eps', `expected a number > 0, got ${cfg.layerNormEps}`);
  if (cfg.hiddenSize % cfg.numAttentionHeads !== 0) throw new UserError(file, 'hidden_size', 'must be divisible by num_attention_heads');
}

export function numLabelsOf(json: Record<string, unknown>, file: string): number {
  const id2label = json['id2label'];
  const n = typeof id2label === 'object' && id2label !== null ? Object.keys(id2label).length : hfConfigReader(json, file).count('num_labels', 2);
  if (n < 1) throw new UserError(file, 'id2label', 'expected at least one label');
  return n;
}

export function classNamesOf(json: Record<string, unknown>, numLabels: number): string[] {
  const id2label = json['id2label'] as Record<string, string> | undefined;
  return Array.from({ length: numLabels }, (_, i) => id2label?.[String(i)] ?? String(i));
}

export function labelMaps(classNames: readonly string[]): Record<string, unknown> {
  return {
    id2label: Object.fromEntries(classNames.map((c, i) => [String(i), c])),
    label2id: Object.fromEntries(classNames.map((c, i) => [c, i])),
  };
}

/** Rows and columns of a [rows, cols] row-major matrix swapped. */
export function transpose2d(data: Float32Array, rows: number, cols: number): Float32Array {
  const out = new Float32Array(data.length);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) out[c * rows + r] = data[r * cols + c] as number;
  return out;
}

/**
 * Loads the tensors `shapes()` names (internal layout) from a checkpoint; the table is built only
 * after a cheap check that the layer count can be real. Names in `optional` may be
 * absent; every other one must be present with its shape. Nothing stays allocated on failure.
 */
export function loadTensors(
  ckpt: Checkpoint,
  shapes: () => Map<string, number[]>,
  toInternal: (name: string, shape: number[], data: Float32Array) => { shape: number[]; data: Float32Array },
  lookup: (name: string) => string = (n) => n,
  optional: ReadonlySet<string> = new Set(),
): Params {
  const configFile = `${ckpt.dir}/config.json`;
  const weightsFile = `${ckpt.dir}/model.safetensors`;
  const layers = Number(ckpt.config['num_hidden_layers']);
  // Every layer has several tensors; a hostile layer count must not build a huge shape table first.
  if (layers > ckpt.tensors.size) {
    throw new UserError(configFile, 'num_hidden_layers', `${layers} layers, but ${weightsFile} holds only ${ckpt.tensors.size} tensors`);
  }
  const params: Params = new Map();
  try {
    for (const [name, shape] of shapes()) {
      const t = ckpt.tensors.get(lookup(name));
      if (!t) {
        if (optional.has(name)) continue;
        throw new UserError(weightsFile, lookup(name), 'missing tensor required by config.json');
      }
      const internal = toInternal(name, t.shape, t.data);
      if (internal.shape.join(',') !== shape.join(',')) {
        throw new UserError(weightsFile, lookup(name), `shape [${t.shape}] does not match config.json`);
      }
      params.set(name, tf.tensor(internal.data, internal.shape, 'float32'));
    }
  } catch (err) {
    for (const t of params.values()) t.dispose();
    throw err;
  }
  return params;
}
