import * as tf from '@tensorflow/tfjs-core';
import { Rng } from '../util/rng.js';
import { EncoderForward, initLoraPair, layerNorm, type AttentionNames, type ForwardOptions } from './layers.js';
import type { Params } from './params.js';

export { gelu, layerNorm, type ForwardOptions, type LoraOptions } from './layers.js';

/**
 * A ViT encoder for image classification with HuggingFace's ViTForImageClassification
 * architecture and parameter names (pre-LayerNorm blocks, CLS token, learned position
 * embeddings, exact-erf GELU FFN), so HF checkpoints map one to one.
 */
export interface VitConfig {
  modelType: 'vit';
  hiddenSize: number;
  numHiddenLayers: number;
  numAttentionHeads: number;
  intermediateSize: number;
  imageSize: number;
  patchSize: number;
  numChannels: number;
  numLabels: number;
  layerNormEps: number;
  qkvBias: boolean;
  /** Per-layer FFN width when it differs between layers (a compressed sub-FM); default intermediateSize. */
  intermediateSizes?: number[];
}

export const LORA_TARGETS = ['attention.attention.query', 'attention.attention.key', 'attention.attention.value', 'attention.output.dense'] as const;

export function layerPrefix(i: number): string {
  return `vit.encoder.layer.${i}`;
}

export function numPatches(cfg: VitConfig): number {
  return (cfg.imageSize / cfg.patchSize) ** 2;
}

export function ffnWidth(cfg: VitConfig, layer: number): number {
  return cfg.intermediateSizes?.[layer] ?? cfg.intermediateSize;
}

/** Parameter shapes in this project's internal layout (dense weights [in, out]). */
export function vitParamShapes(cfg: VitConfig): Map<string, number[]> {
  const d = cfg.hiddenSize;
  const shapes = new Map<string, number[]>();
  shapes.set('vit.embeddings.cls_token', [1, 1, d]);
  shapes.set('vit.embeddings.position_embeddings', [1, numPatches(cfg) + 1, d]);
  shapes.set('vit.embeddings.patch_embeddings.projection.weight', [cfg.numChannels * cfg.patchSize * cfg.patchSize, d]);
  shapes.set('vit.embeddings.patch_embeddings.projection.bias', [d]);
  for (let i = 0; i < cfg.numHiddenLayers; i++) {
    const p = layerPrefix(i);
    const ff = ffnWidth(cfg, i);
    for (const ln of ['layernorm_before', 'layernorm_after']) {
      shapes.set(`${p}.${ln}.weight`, [d]);
      shapes.set(`${p}.${ln}.bias`, [d]);
    }
    for (const t of LORA_TARGETS) {
      shapes.set(`${p}.${t}.weight`, [d, d]);
      if (cfg.qkvBias || t === 'attention.output.dense') shapes.set(`${p}.${t}.bias`, [d]);
    }
    shapes.set(`${p}.intermediate.dense.weight`, [d, ff]);
    shapes.set(`${p}.intermediate.dense.bias`, [ff]);
    shapes.set(`${p}.output.dense.weight`, [ff, d]);
    shapes.set(`${p}.output.dense.bias`, [d]);
  }
  shapes.set('vit.layernorm.weight', [d]);
  shapes.set('vit.layernorm.bias', [d]);
  shapes.set('classifier.weight', [d, cfg.numLabels]);
  shapes.set('classifier.bias', [cfg.numLabels]);
  return shapes;
}

/** HF's initialisation: N(0, 0.02) weights and embeddings, zero biases, unit LayerNorm gains. */
export function initVitParams(cfg: VitConfig, rng: Rng): Params {
  const params: Params = new Map();
  for (const [name, shape] of vitParamShapes(cfg)) {
    const size = shape.reduce((a, b) => a * b, 1);
    const data = new Float32Array(size);
    if (name.includes('layernorm') && name.endsWith('.weight')) data.fill(1);
    else if (!name.endsWith('.bias')) for (let i = 0; i < size; i++) data[i] = 0.02 * rng.normal();
    params.set(name, tf.tensor(data, shape, 'float32'));
  }
  return params;
}

/** LoRA tensors for every target of every layer (see initLoraPair). */
export function initLoraParams(cfg: VitConfig, rank: number, rng: Rng): Params {
  const params: Params = new Map();
  for (let i = 0; i < cfg.numHiddenLayers; i++) {
    for (const t of LORA_TARGETS) initLoraPair(params, `${layerPrefix(i)}.${t}`, cfg.hiddenSize, rank, () => rng.next());
  }
  return params;
}

const VIT_ATTENTION: AttentionNames = {
  query: 'attention.attention.query',
  key: 'attention.attention.key',
  value: 'attention.attention.value',
  output: 'attention.output.dense',
};

class Forward extends EncoderForward {
  constructor(
    readonly cfg: VitConfig,
    params: Params,
    opts: ForwardOptions,
  ) {
    super(cfg, params, opts);
  }

  embed(images: tf.Tensor2D): tf.Tensor3D {
    const { cfg } = this;
    const b = images.shape[0];
    const g = cfg.imageSize / cfg.patchSize;
    const p = cfg.patchSize;
    // Conv2d with kernel = stride = patch is a matMul over (channel, row, col)-ordered patches.
    const patches = tf.reshape(
      tf.transpose(tf.reshape(images, [b, cfg.numChannels, g, p, g, p]), [0, 2, 4, 1, 3, 5]),
      [b * g * g, cfg.numChannels * p * p],
    ) as tf.Tensor2D;
    const emb = tf.reshape(this.linear(patches, 'vit.embeddings.patch_embeddings.projection'), [b, g * g, cfg.hiddenSize]);
    const cls = tf.tile(this.get('vit.embeddings.cls_token'), [b, 1, 1]);
    return tf.add(tf.concat([cls, emb], 1), this.get('vit.embeddings.position_embeddings')) as tf.Tensor3D;
  }

  run(images: tf.Tensor2D): tf.Tensor2D {
    const { cfg } = this;
    const x0 = this.embed(images);
    const [b, t, d] = x0.shape;
    let x = tf.reshape(x0, [b * t, d]) as tf.Tensor2D;
    for (let i = 0; i < cfg.numHiddenLayers; i++) {
      const p = layerPrefix(i);
      const h1 = layerNorm(x, this.get(`${p}.layernorm_before.weight`), this.get(`${p}.layernorm_before.bias`), cfg.layerNormEps);
      x = tf.add(x, this.attention(h1 as tf.Tensor2D, p, VIT_ATTENTION, b, t)) as tf.Tensor2D;
      const h2 = layerNorm(x, this.get(`${p}.layernorm_after.weight`), this.get(`${p}.layernorm_after.bias`), cfg.layerNormEps);
      x = tf.add(x, this.ffn(h2 as tf.Tensor2D, p, i)) as tf.Tensor2D;
      this.opts.onLayerOutput?.(i, tf.reshape(x, [b, t, d]) as tf.Tensor3D);
    }
    const final = layerNorm(x, this.get('vit.layernorm.weight'), this.get('vit.layernorm.bias'), cfg.layerNormEps);
    const cls = tf.reshape(tf.slice(tf.reshape(final, [b, t, d]), [0, 0, 0], [b, 1, d]), [b, d]) as tf.Tensor2D;
    return this.linear(cls, 'classifier');
  }
}

/** Logits [batch, numLabels] for flattened NCHW images [batch, channels*size*size] in [0, 1]. */
export function vitForward(cfg: VitConfig, params: Params, images: tf.Tensor2D, opts: ForwardOptions = {}): tf.Tensor2D {
  return new Forward(cfg, params, opts).run(images);
}

/** Multiply-adds of one forward pass per example, counted from the shapes (x2 for FLOPs). */
export function vitForwardMacs(cfg: VitConfig, loraRank = 0): number {
  const d = cfg.hiddenSize;
  const t = numPatches(cfg) + 1;
  let macs = numPatches(cfg) * cfg.numChannels * cfg.patchSize ** 2 * d;
  for (let i = 0; i < cfg.numHiddenLayers; i++) {
    macs += t * 4 * d * d + 2 * t * t * d + 2 * t * d * ffnWidth(cfg, i);
    if (loraRank > 0) macs += 4 * t * 2 * d * loraRank;
  }
  return macs + d * cfg.numLabels;
}
