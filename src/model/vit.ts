import * as tf from '@tensorflow/tfjs-core';
import { Rng } from '../util/rng.js';
import { mustGet, type Params } from './params.js';

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

export interface LoraOptions {
  rank: number;
  alpha: number;
  dropout: number;
}

export interface ForwardOptions {
  /** LoRA adapters are applied when given and their tensors exist in the params. */
  lora?: LoraOptions;
  /** Enables dropout; each call must use a different non-zero seed. */
  dropoutSeed?: number;
  /** Called with each layer's output hidden states [batch, tokens, hidden] (for distillation). */
  onLayerOutput?: (layer: number, hidden: tf.Tensor3D) => void;
  /** Called with each layer's FFN activation gelu(h W1 + b1) [batch*tokens, ffn width] (for APoZ). */
  onFfnActivation?: (layer: number, act: tf.Tensor2D) => void;
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

/** LoRA tensors for every target of every layer: A ~ U(-1/sqrt(in), 1/sqrt(in)) as PEFT's kaiming init, B = 0. */
export function initLoraParams(cfg: VitConfig, rank: number, rng: Rng): Params {
  const d = cfg.hiddenSize;
  const bound = 1 / Math.sqrt(d);
  const params: Params = new Map();
  for (let i = 0; i < cfg.numHiddenLayers; i++) {
    for (const t of LORA_TARGETS) {
      const a = new Float32Array(d * rank);
      for (let j = 0; j < a.length; j++) a[j] = (2 * rng.next() - 1) * bound;
      params.set(`${layerPrefix(i)}.${t}.lora_A.weight`, tf.tensor(a, [d, rank], 'float32'));
      params.set(`${layerPrefix(i)}.${t}.lora_B.weight`, tf.zeros([rank, d], 'float32'));
    }
  }
  return params;
}

export function gelu(x: tf.Tensor): tf.Tensor {
  return tf.mul(tf.mul(x, 0.5), tf.add(1, tf.erf(tf.mul(x, Math.SQRT1_2))));
}

export function layerNorm(x: tf.Tensor, gamma: tf.Tensor, beta: tf.Tensor, eps: number): tf.Tensor {
  const { mean, variance } = tf.moments(x, -1, true);
  return tf.add(tf.mul(tf.mul(tf.sub(x, mean), tf.rsqrt(tf.add(variance, eps))), gamma), beta);
}

class Forward {
  private dropoutCalls = 0;

  constructor(
    readonly cfg: VitConfig,
    readonly params: Params,
    readonly opts: ForwardOptions,
  ) {}

  get(name: string): tf.Tensor {
    return mustGet(this.params, name);
  }

  /** x [n, in] @ W [in, out] + b, plus the LoRA path scale * dropout(x) A B when present. */
  linear(x: tf.Tensor2D, name: string): tf.Tensor2D {
    let y: tf.Tensor2D = tf.matMul(x, this.get(`${name}.weight`) as tf.Tensor2D);
    const bias = this.params.get(`${name}.bias`);
    if (bias) y = tf.add(y, bias) as tf.Tensor2D;
    const lora = this.opts.lora;
    const a = lora && this.params.get(`${name}.lora_A.weight`);
    if (lora && a) {
      const b = mustGet(this.params, `${name}.lora_B.weight`) as tf.Tensor2D;
      const xin = this.dropout(x, lora.dropout);
      y = tf.add(y, tf.mul(tf.matMul(tf.matMul(xin, a as tf.Tensor2D), b), lora.alpha / lora.rank)) as tf.Tensor2D;
    }
    return y;
  }

  dropout<T extends tf.Tensor>(x: T, rate: number): T {
    if (this.opts.dropoutSeed === undefined || rate <= 0) return x;
    // Each dropout site needs its own stream; tfjs reuses the same mask for the same seed.
    const seed = this.opts.dropoutSeed + 7919 * ++this.dropoutCalls;
    return tf.dropout(x, rate, undefined, seed) as T;
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

  attention(h: tf.Tensor2D, prefix: string, b: number, t: number): tf.Tensor2D {
    const { cfg } = this;
    const heads = cfg.numAttentionHeads;
    const dh = cfg.hiddenSize / heads;
    const split = (x: tf.Tensor2D) => tf.transpose(tf.reshape(x, [b, t, heads, dh]), [0, 2, 1, 3]);
    const q = split(this.linear(h, `${prefix}.attention.attention.query`));
    const k = split(this.linear(h, `${prefix}.attention.attention.key`));
    const v = split(this.linear(h, `${prefix}.attention.attention.value`));
    const scores = tf.mul(tf.matMul(q, k, false, true), 1 / Math.sqrt(dh));
    const ctx = tf.matMul(tf.softmax(scores), v);
    const merged = tf.reshape(tf.transpose(ctx, [0, 2, 1, 3]), [b * t, cfg.hiddenSize]) as tf.Tensor2D;
    return this.linear(merged, `${prefix}.attention.output.dense`);
  }

  ffn(h: tf.Tensor2D, prefix: string, layer: number): tf.Tensor2D {
    const act = gelu(this.linear(h, `${prefix}.intermediate.dense`)) as tf.Tensor2D;
    this.opts.onFfnActivation?.(layer, act);
    return this.linear(act, `${prefix}.output.dense`);
  }

  run(images: tf.Tensor2D): tf.Tensor2D {
    const { cfg } = this;
    const x0 = this.embed(images);
    const [b, t, d] = x0.shape;
    let x = tf.reshape(x0, [b * t, d]) as tf.Tensor2D;
    for (let i = 0; i < cfg.numHiddenLayers; i++) {
      const p = layerPrefix(i);
      const h1 = layerNorm(x, this.get(`${p}.layernorm_before.weight`), this.get(`${p}.layernorm_before.bias`), cfg.layerNormEps);
      x = tf.add(x, this.attention(h1 as tf.Tensor2D, p, b, t)) as tf.Tensor2D;
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
