import * as tf from '@tensorflow/tfjs-core';
import { UserError } from '../util/errors.js';
import { readCheckpoint, writeCheckpoint } from './checkpoint.js';
import type { NamedArray } from './safetensors.js';
import type { Params } from './params.js';
import { vitParamShapes, type VitConfig } from './vit.js';

/**
 * Maps between HuggingFace's ViT checkpoint layout and the internal one: PyTorch Linear
 * weights [out, in] become [in, out], the patch Conv2d [d, c, p, p] becomes [c*p*p, d].
 */

export function vitConfigFromHF(json: Record<string, unknown>, file: string): VitConfig {
  const num = (key: string, fallback?: number): number => {
    const v = json[key] ?? fallback;
    if (typeof v !== 'number' || !Number.isFinite(v)) throw new UserError(file, key, `expected a number, got ${JSON.stringify(v)}`);
    return v;
  };
  // Sizes and counts: a negative or fractional one can otherwise still match the tensors' shapes.
  const count = (key: string, fallback?: number): number => {
    const v = num(key, fallback);
    if (!Number.isSafeInteger(v) || v < 1) throw new UserError(file, key, `expected a positive integer, got ${JSON.stringify(v)}`);
    return v;
  };
  if (json['model_type'] !== 'vit') throw new UserError(file, 'model_type', `expected "vit", got ${JSON.stringify(json['model_type'])}`);
  const act = json['hidden_act'] ?? 'gelu';
  if (act !== 'gelu') throw new UserError(file, 'hidden_act', `only "gelu" is supported, got ${JSON.stringify(act)}`);
  const id2label = json['id2label'];
  const numLabels = typeof id2label === 'object' && id2label !== null ? Object.keys(id2label).length : count('num_labels', 2);
  const cfg: VitConfig = {
    modelType: 'vit',
    hiddenSize: count('hidden_size'),
    numHiddenLayers: count('num_hidden_layers'),
    numAttentionHeads: count('num_attention_heads'),
    intermediateSize: count('intermediate_size'),
    imageSize: count('image_size'),
    patchSize: count('patch_size'),
    numChannels: count('num_channels', 3),
    numLabels,
    layerNormEps: num('layer_norm_eps', 1e-12),
    qkvBias: json['qkv_bias'] !== false,
  };
  const sizes = json['intermediate_sizes'];
  if (sizes !== undefined) {
    if (!Array.isArray(sizes) || sizes.length !== cfg.numHiddenLayers || !sizes.every((s) => Number.isInteger(s) && s > 0)) {
      throw new UserError(file, 'intermediate_sizes', `expected ${cfg.numHiddenLayers} positive integers`);
    }
    cfg.intermediateSizes = sizes as number[];
  }
  if (numLabels < 1) throw new UserError(file, 'id2label', 'expected at least one label');
  if (!(cfg.layerNormEps > 0)) throw new UserError(file, 'layer_norm_eps', `expected a number > 0, got ${cfg.layerNormEps}`);
  if (cfg.hiddenSize % cfg.numAttentionHeads !== 0) throw new UserError(file, 'hidden_size', 'must be divisible by num_attention_heads');
  if (cfg.imageSize % cfg.patchSize !== 0) throw new UserError(file, 'image_size', 'must be divisible by patch_size');
  return cfg;
}

export function vitConfigToHF(cfg: VitConfig, classNames: readonly string[]): Record<string, unknown> {
  return {
    architectures: ['ViTForImageClassification'],
    model_type: 'vit',
    hidden_size: cfg.hiddenSize,
    num_hidden_layers: cfg.numHiddenLayers,
    num_attention_heads: cfg.numAttentionHeads,
    intermediate_size: cfg.intermediateSize,
    ...(cfg.intermediateSizes ? { intermediate_sizes: cfg.intermediateSizes } : {}),
    hidden_act: 'gelu',
    hidden_dropout_prob: 0,
    attention_probs_dropout_prob: 0,
    image_size: cfg.imageSize,
    patch_size: cfg.patchSize,
    num_channels: cfg.numChannels,
    layer_norm_eps: cfg.layerNormEps,
    qkv_bias: cfg.qkvBias,
    initializer_range: 0.02,
    id2label: Object.fromEntries(classNames.map((c, i) => [String(i), c])),
    label2id: Object.fromEntries(classNames.map((c, i) => [c, i])),
  };
}

function isLinearWeight(name: string, rank: number): boolean {
  return rank === 2 && name.endsWith('.weight') && !name.includes('layernorm');
}

/** HF layout -> internal layout (rows and columns of a [r, c] row-major matrix swapped). */
function transpose2d(data: Float32Array, rows: number, cols: number): Float32Array {
  const out = new Float32Array(data.length);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) out[c * rows + r] = data[r * cols + c] as number;
  return out;
}

const PATCH = 'vit.embeddings.patch_embeddings.projection.weight';

export function toInternal(name: string, hfShape: number[], data: Float32Array): { shape: number[]; data: Float32Array } {
  if (name === PATCH && hfShape.length === 4) {
    const [d, ...rest] = hfShape as [number, ...number[]];
    const inner = rest.reduce((a, b) => a * b, 1);
    return { shape: [inner, d], data: transpose2d(data, d, inner) };
  }
  if (isLinearWeight(name, hfShape.length)) {
    const [r, c] = hfShape as [number, number];
    return { shape: [c, r], data: transpose2d(data, r, c) };
  }
  return { shape: hfShape, data };
}

export function toHF(name: string, shape: number[], data: Float32Array, cfg: VitConfig): NamedArray {
  if (name === PATCH) {
    const [inner, d] = shape as [number, number];
    return { name, shape: [d, cfg.numChannels, cfg.patchSize, cfg.patchSize], data: transpose2d(data, inner, d) };
  }
  if (isLinearWeight(name, shape.length)) {
    const [r, c] = shape as [number, number];
    return { name, shape: [c, r], data: transpose2d(data, r, c) };
  }
  return { name, shape, data };
}

export interface LoadedVit {
  cfg: VitConfig;
  params: Params;
  classNames: string[];
  dir: string;
}

/** Loads a HF ViT directory; every tensor the config implies must be present with its shape. */
export function loadVit(dir: string): LoadedVit {
  const ckpt = readCheckpoint(dir);
  const configFile = `${dir}/config.json`;
  const cfg = vitConfigFromHF(ckpt.config, configFile);
  const weightsFile = `${dir}/model.safetensors`;
  // Every layer has several tensors; a hostile layer count must not build a huge shape table first.
  if (cfg.numHiddenLayers > ckpt.tensors.size) {
    throw new UserError(configFile, 'num_hidden_layers', `${cfg.numHiddenLayers} layers, but ${weightsFile} holds only ${ckpt.tensors.size} tensors`);
  }
  const params: Params = new Map();
  try {
    for (const [name, shape] of vitParamShapes(cfg)) {
      const t = ckpt.tensors.get(name);
      if (!t) throw new UserError(weightsFile, name, 'missing tensor required by config.json');
      const internal = toInternal(name, t.shape, t.data);
      if (internal.shape.join(',') !== shape.join(',')) {
        throw new UserError(weightsFile, name, `shape [${t.shape}] does not match config.json`);
      }
      params.set(name, tf.tensor(internal.data, internal.shape, 'float32'));
    }
  } catch (err) {
    // A rejected file must not leave the tensors loaded before the bad one alive.
    for (const t of params.values()) t.dispose();
    throw err;
  }
  const id2label = ckpt.config['id2label'] as Record<string, string> | undefined;
  const classNames = Array.from({ length: cfg.numLabels }, (_, i) => id2label?.[String(i)] ?? String(i));
  return { cfg, params, classNames, dir };
}

export function saveVit(dir: string, cfg: VitConfig, params: Params, classNames: readonly string[], metadata: Record<string, string> = {}): { sha256: string } {
  const tensors: NamedArray[] = [...params.entries()].map(([name, t]) =>
    toHF(name, t.shape, new Float32Array(t.dataSync() as Float32Array), cfg),
  );
  return writeCheckpoint(dir, vitConfigToHF(cfg, classNames), tensors, { format: 'pt', ...metadata });
}
