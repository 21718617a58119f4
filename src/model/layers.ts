import * as tf from '@tensorflow/tfjs-core';
import { mustGet, type Params } from './params.js';
import { seededDropout } from './dropout.js';
import { fusedGelu, fusedGeluAvailable } from '../tensor/gelu-op.js';

/** The transformer pieces ViT and BERT/RoBERTa share: LoRA-aware linear layers, dropout, attention. */

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

/** The four attention projections LoRA adapts, named relative to a layer's prefix. */
export interface AttentionNames {
  query: string;
  key: string;
  value: string;
  output: string;
}

export function gelu(x: tf.Tensor): tf.Tensor {
  if (fusedGeluAvailable()) return fusedGelu(x);
  return tf.mul(tf.mul(x, 0.5), tf.add(1, tf.erf(tf.mul(x, Math.SQRT1_2))));
}

export function layerNorm(x: tf.Tensor, gamma: tf.Tensor, beta: tf.Tensor, eps: number): tf.Tensor {
  const { mean, variance } = tf.moments(x, -1, true);
  return tf.add(tf.mul(tf.mul(tf.sub(x, mean), tf.rsqrt(tf.add(variance, eps))), gamma), beta);
}

/** Shared LoRA initialisation: A ~ U(-1/sqrt(in), 1/sqrt(in)) as PEFT's kaiming init, B = 0. */
export function initLoraPair(params: Params, name: string, d: number, rank: number, next: () => number): void {
  const bound = 1 / Math.sqrt(d);
  const a = new Float32Array(d * rank);
  for (let j = 0; j < a.length; j++) a[j] = (2 * next() - 1) * bound;
  params.set(`${name}.lora_A.weight`, tf.tensor(a, [d, rank], 'float32'));
  params.set(`${name}.lora_B.weight`, tf.zeros([rank, d], 'float32'));
}

export class EncoderForward {
  private dropoutCalls = 0;

  constructor(
    readonly dims: { hiddenSize: number; numAttentionHeads: number },
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
    return seededDropout(x, rate, seed);
  }

  /**
   * Multi-head self-attention over h [b*t, d]. `maskBias` [b, 1, 1, t] is added to the scores
   * (0 for tokens to attend to, a large negative number for padding).
   */
  attention(h: tf.Tensor2D, prefix: string, names: AttentionNames, b: number, t: number, maskBias?: tf.Tensor): tf.Tensor2D {
    const d = this.dims.hiddenSize;
    const heads = this.dims.numAttentionHeads;
    const dh = d / heads;
    const split = (x: tf.Tensor2D) => tf.transpose(tf.reshape(x, [b, t, heads, dh]), [0, 2, 1, 3]);
    const q = split(this.linear(h, `${prefix}.${names.query}`));
    const k = split(this.linear(h, `${prefix}.${names.key}`));
    const v = split(this.linear(h, `${prefix}.${names.value}`));
    let scores = tf.mul(tf.matMul(q, k, false, true), 1 / Math.sqrt(dh));
    if (maskBias) scores = tf.add(scores, maskBias);
    const ctx = tf.matMul(tf.softmax(scores), v);
    const merged = tf.reshape(tf.transpose(ctx, [0, 2, 1, 3]), [b * t, d]) as tf.Tensor2D;
    return this.linear(merged, `${prefix}.${names.output}`);
  }

  /** The FFN: output.dense(gelu(intermediate.dense(h))); both architectures use these names. */
  ffn(h: tf.Tensor2D, prefix: string, layer: number): tf.Tensor2D {
    const act = gelu(this.linear(h, `${prefix}.intermediate.dense`)) as tf.Tensor2D;
    this.opts.onFfnActivation?.(layer, act);
    return this.linear(act, `${prefix}.output.dense`);
  }
}
