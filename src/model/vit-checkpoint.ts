import { UserError } from '../util/errors.js';
import { readCheckpoint, writeCheckpoint } from './checkpoint.js';
import { checkEncoderConfig, classNamesOf, hfConfigReader, labelMaps, loadTensors, numLabelsOf, transpose2d } from './hf-layout.js';
import type { NamedArray } from './safetensors.js';
import type { Params } from './params.js';
import { vitParamShapes, type VitConfig } from './vit.js';
import { readFloats } from '../tensor/read.js';

/**
 * Maps between HuggingFace's ViT checkpoint layout and the internal one: PyTorch Linear
 * weights [out, in] become [in, out], the patch Conv2d [d, c, p, p] becomes [c*p*p, d].
 */

export function vitConfigFromHF(json: Record<string, unknown>, file: string): VitConfig {
  const { num, count } = hfConfigReader(json, file);
  if (json['model_type'] !== 'vit') throw new UserError(file, 'model_type', `expected "vit", got ${JSON.stringify(json['model_type'])}`);
  const cfg: VitConfig = {
    modelType: 'vit',
    hiddenSize: count('hidden_size'),
    numHiddenLayers: count('num_hidden_layers'),
    numAttentionHeads: count('num_attention_heads'),
    intermediateSize: count('intermediate_size'),
    imageSize: count('image_size'),
    patchSize: count('patch_size'),
    numChannels: count('num_channels', 3),
    numLabels: numLabelsOf(json, file),
    layerNormEps: num('layer_norm_eps', 1e-12),
    qkvBias: json['qkv_bias'] !== false,
  };
  checkEncoderConfig(json, file, cfg);
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
    ...labelMaps(classNames),
  };
}

function isLinearWeight(name: string, rank: number): boolean {
  return rank === 2 && name.endsWith('.weight') && !name.includes('layernorm');
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
  const cfg = vitConfigFromHF(ckpt.config, `${dir}/config.json`);
  const params = loadTensors(ckpt, () => vitParamShapes(cfg), toInternal);
  return { cfg, params, classNames: classNamesOf(ckpt.config, cfg.numLabels), dir };
}

export async function saveVit(dir: string, cfg: VitConfig, params: Params, classNames: readonly string[], metadata: Record<string, string> = {}): Promise<{ sha256: string }> {
  const tensors: NamedArray[] = [];
  for (const [name, t] of params) tensors.push(toHF(name, t.shape, await readFloats(t), cfg));
  return writeCheckpoint(dir, vitConfigToHF(cfg, classNames), tensors, { format: 'pt', ...metadata });
}
