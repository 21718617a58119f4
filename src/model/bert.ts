import * as tf from '@tensorflow/tfjs-core';
import { tokensOfFeatureSize } from '../data/dataset.js';
import { Rng } from '../util/rng.js';
import { EncoderForward, gelu, initLoraPair, layerNorm, type AttentionNames, type ForwardOptions } from './layers.js';
import type { Params } from './params.js';

/**
 * BERT and RoBERTa text encoders with HuggingFace's architecture and parameter names
 * (post-LayerNorm blocks; word, position and token-type embeddings; exact-erf GELU), so a
 * bert-base-uncased or roberta-base directory maps one to one. Heads follow
 * BertForSequenceClassification (pooler dense+tanh over [CLS], then `classifier`),
 * RobertaForSequenceClassification (`classifier.dense` + tanh + `classifier.out_proj` over <s>)
 * and the masked-LM heads (`cls.predictions.*` / `lm_head.*`, decoder tied to the word embeddings).
 *
 * Inputs are the feature vectors of a tokenized text set: [batch, 3 * maxLength] holding the
 * input ids, the token-type ids and the attention mask, as floats (TOKEN_PLANES,
 * src/data/dataset.ts). The attention mask is read from its plane, as HF takes `attention_mask`;
 * RoBERTa's position ids still come from `ids != pad_token_id`, as HF's
 * create_position_ids_from_input_ids builds them.
 */
export interface BertConfig {
  modelType: 'bert' | 'roberta';
  vocabSize: number;
  hiddenSize: number;
  numHiddenLayers: number;
  numAttentionHeads: number;
  intermediateSize: number;
  maxPositionEmbeddings: number;
  typeVocabSize: number;
  layerNormEps: number;
  padTokenId: number;
  hiddenDropoutProb: number;
  numLabels: number;
  /** Per-layer FFN width when it differs between layers (a compressed sub-FM); default intermediateSize. */
  intermediateSizes?: number[];
}

export const BERT_ATTENTION: AttentionNames = {
  query: 'attention.self.query',
  key: 'attention.self.key',
  value: 'attention.self.value',
  output: 'attention.output.dense',
};

export const BERT_LORA_TARGETS = [BERT_ATTENTION.query, BERT_ATTENTION.key, BERT_ATTENTION.value, BERT_ATTENTION.output] as const;

/** A score offset that zeroes a padded key's softmax weight (as HF's finfo.min does). */
const MASKED = -1e9;

export function bertRoot(cfg: Pick<BertConfig, 'modelType'>): string {
  return cfg.modelType === 'roberta' ? 'roberta' : 'bert';
}

export function bertLayerPrefix(cfg: Pick<BertConfig, 'modelType'>, i: number): string {
  return `${bertRoot(cfg)}.encoder.layer.${i}`;
}

export function bertFfnWidth(cfg: BertConfig, layer: number): number {
  return cfg.intermediateSizes?.[layer] ?? cfg.intermediateSize;
}

/** RoBERTa numbers positions from padTokenId + 1, so it needs two more position rows than tokens. */
export function maxSequenceLength(cfg: BertConfig): number {
  return cfg.modelType === 'roberta' ? cfg.maxPositionEmbeddings - cfg.padTokenId - 1 : cfg.maxPositionEmbeddings;
}

/** The encoder's tensors (no head), internal layout (dense weights [in, out]). */
export function bertEncoderShapes(cfg: BertConfig): Map<string, number[]> {
  const d = cfg.hiddenSize;
  const root = bertRoot(cfg);
  const shapes = new Map<string, number[]>();
  shapes.set(`${root}.embeddings.word_embeddings.weight`, [cfg.vocabSize, d]);
  shapes.set(`${root}.embeddings.position_embeddings.weight`, [cfg.maxPositionEmbeddings, d]);
  shapes.set(`${root}.embeddings.token_type_embeddings.weight`, [cfg.typeVocabSize, d]);
  shapes.set(`${root}.embeddings.LayerNorm.weight`, [d]);
  shapes.set(`${root}.embeddings.LayerNorm.bias`, [d]);
  for (let i = 0; i < cfg.numHiddenLayers; i++) {
    const p = bertLayerPrefix(cfg, i);
    const ff = bertFfnWidth(cfg, i);
    for (const t of BERT_LORA_TARGETS) {
      shapes.set(`${p}.${t}.weight`, [d, d]);
      shapes.set(`${p}.${t}.bias`, [d]);
    }
    shapes.set(`${p}.attention.output.LayerNorm.weight`, [d]);
    shapes.set(`${p}.attention.output.LayerNorm.bias`, [d]);
    shapes.set(`${p}.intermediate.dense.weight`, [d, ff]);
    shapes.set(`${p}.intermediate.dense.bias`, [ff]);
    shapes.set(`${p}.output.dense.weight`, [ff, d]);
    shapes.set(`${p}.output.dense.bias`, [d]);
    shapes.set(`${p}.output.LayerNorm.weight`, [d]);
    shapes.set(`${p}.output.LayerNorm.bias`, [d]);
  }
  return shapes;
}

/** The sequence-classification head's tensors. */
export function bertHeadShapes(cfg: BertConfig): Map<string, number[]> {
  const d = cfg.hiddenSize;
  if (cfg.modelType === 'roberta') {
    return new Map([
      ['classifier.dense.weight', [d, d]],
      ['classifier.dense.bias', [d]],
      ['classifier.out_proj.weight', [d, cfg.numLabels]],
      ['classifier.out_proj.bias', [cfg.numLabels]],
    ]);
  }
  return new Map([
    ['bert.pooler.dense.weight', [d, d]],
    ['bert.pooler.dense.bias', [d]],
    ['classifier.weight', [d, cfg.numLabels]],
    ['classifier.bias', [cfg.numLabels]],
  ]);
}

/** The masked-LM head's own tensors (its decoder weight is the word embedding matrix). */
export function mlmHeadShapes(cfg: BertConfig): Map<string, number[]> {
  const d = cfg.hiddenSize;
  const p = cfg.modelType === 'roberta' ? 'lm_head' : 'cls.predictions';
  const ln = cfg.modelType === 'roberta' ? 'lm_head.layer_norm' : 'cls.predictions.transform.LayerNorm';
  const dense = cfg.modelType === 'roberta' ? 'lm_head.dense' : 'cls.predictions.transform.dense';
  return new Map([
    [`${dense}.weight`, [d, d]],
    [`${dense}.bias`, [d]],
    [`${ln}.weight`, [d]],
    [`${ln}.bias`, [d]],
    [`${p}.bias`, [cfg.vocabSize]],
  ]);
}

export function bertParamShapes(cfg: BertConfig): Map<string, number[]> {
  return new Map([...bertEncoderShapes(cfg), ...bertHeadShapes(cfg)]);
}

/** HF's initialisation: N(0, 0.02) weights and embeddings, zero biases, unit LayerNorm gains. */
export function initBertTensors(shapes: Map<string, number[]>, rng: Rng): Params {
  const params: Params = new Map();
  for (const [name, shape] of shapes) {
    const size = shape.reduce((a, b) => a * b, 1);
    const data = new Float32Array(size);
    if (/(LayerNorm|layer_norm)\.weight$/.test(name)) data.fill(1);
    else if (!name.endsWith('.bias')) for (let i = 0; i < size; i++) data[i] = 0.02 * rng.normal();
    params.set(name, tf.tensor(data, shape, 'float32'));
  }
  return params;
}

export function initBertParams(cfg: BertConfig, rng: Rng): Params {
  return initBertTensors(bertParamShapes(cfg), rng);
}

export function initBertLoraParams(cfg: BertConfig, rank: number, rng: Rng): Params {
  const params: Params = new Map();
  for (let i = 0; i < cfg.numHiddenLayers; i++) {
    for (const t of BERT_LORA_TARGETS) initLoraPair(params, `${bertLayerPrefix(cfg, i)}.${t}`, cfg.hiddenSize, rank, () => rng.next());
  }
  return params;
}

class BertForward extends EncoderForward {
  constructor(
    readonly cfg: BertConfig,
    params: Params,
    opts: ForwardOptions,
  ) {
    super(cfg, params, opts);
  }

  /** Final hidden states [b*t, d] of features [b, 3t]. */
  encode(features: tf.Tensor2D): { hidden: tf.Tensor2D; b: number; t: number } {
    const { cfg } = this;
    const root = bertRoot(cfg);
    const [b, width] = features.shape;
    const t = tokensOfFeatureSize(width);
    const d = cfg.hiddenSize;
    const ids = tf.cast(tf.slice(features, [0, 0], [b, t]), 'int32');
    const types = tf.cast(tf.slice(features, [0, t], [b, t]), 'int32');
    const mask = tf.cast(tf.slice(features, [0, 2 * t], [b, t]), 'float32');
    // RoBERTa (HF's create_position_ids_from_input_ids): positions count the tokens that are not
    // the pad id up from padTokenId + 1, and a pad id keeps position padTokenId, whatever its mask.
    let positions: tf.Tensor1D;
    if (cfg.modelType === 'roberta') {
      const notPad = tf.cast(tf.notEqual(ids, cfg.padTokenId), 'float32');
      positions = tf.reshape(tf.cast(tf.add(tf.mul(tf.cumsum(notPad, 1), notPad), cfg.padTokenId), 'int32'), [b * t]);
    } else positions = tf.tile(tf.range(0, t, 1, 'int32'), [b]);
    const emb = tf.addN([
      tf.gather(this.get(`${root}.embeddings.word_embeddings.weight`), tf.reshape(ids, [b * t])),
      tf.gather(this.get(`${root}.embeddings.position_embeddings.weight`), positions),
      tf.gather(this.get(`${root}.embeddings.token_type_embeddings.weight`), tf.reshape(types, [b * t])),
    ]);
    let x = this.dropout(
      layerNorm(emb, this.get(`${root}.embeddings.LayerNorm.weight`), this.get(`${root}.embeddings.LayerNorm.bias`), cfg.layerNormEps) as tf.Tensor2D,
      cfg.hiddenDropoutProb,
    );
    const maskBias = tf.reshape(tf.mul(tf.sub(1, mask), MASKED), [b, 1, 1, t]);
    for (let i = 0; i < cfg.numHiddenLayers; i++) {
      const p = bertLayerPrefix(cfg, i);
      const a = this.dropout(this.attention(x, p, BERT_ATTENTION, b, t, maskBias), cfg.hiddenDropoutProb);
      x = this.norm(tf.add(x, a), `${p}.attention.output.LayerNorm`);
      const f = this.dropout(this.ffn(x, p, i), cfg.hiddenDropoutProb);
      x = this.norm(tf.add(x, f), `${p}.output.LayerNorm`);
      this.opts.onLayerOutput?.(i, tf.reshape(x, [b, t, d]) as tf.Tensor3D);
    }
    return { hidden: x, b, t };
  }

  norm(x: tf.Tensor, name: string): tf.Tensor2D {
    return layerNorm(x, this.get(`${name}.weight`), this.get(`${name}.bias`), this.cfg.layerNormEps) as tf.Tensor2D;
  }

  classify(features: tf.Tensor2D): tf.Tensor2D {
    const { hidden, b, t } = this.encode(features);
    const d = this.cfg.hiddenSize;
    const first = tf.reshape(tf.slice(tf.reshape(hidden, [b, t, d]), [0, 0, 0], [b, 1, d]), [b, d]) as tf.Tensor2D;
    const rate = this.cfg.hiddenDropoutProb;
    if (this.cfg.modelType === 'roberta') {
      const h = tf.tanh(this.linear(this.dropout(first, rate), 'classifier.dense')) as tf.Tensor2D;
      return this.linear(this.dropout(h, rate), 'classifier.out_proj');
    }
    const pooled = tf.tanh(this.linear(first, 'bert.pooler.dense')) as tf.Tensor2D;
    return this.linear(this.dropout(pooled, rate), 'classifier');
  }

  /** Vocabulary logits [rows, vocab] at the given flat token positions (rows of [b*t]). */
  maskedLm(features: tf.Tensor2D, rows: tf.Tensor1D): tf.Tensor2D {
    const { cfg } = this;
    const { hidden } = this.encode(features);
    const picked = tf.gather(hidden, rows) as tf.Tensor2D;
    const roberta = cfg.modelType === 'roberta';
    const h = gelu(this.linear(picked, roberta ? 'lm_head.dense' : 'cls.predictions.transform.dense')) as tf.Tensor2D;
    const normed = this.norm(h, roberta ? 'lm_head.layer_norm' : 'cls.predictions.transform.LayerNorm');
    const words = this.get(`${bertRoot(cfg)}.embeddings.word_embeddings.weight`) as tf.Tensor2D;
    return tf.add(tf.matMul(normed, words, false, true), this.get(roberta ? 'lm_head.bias' : 'cls.predictions.bias')) as tf.Tensor2D;
  }
}

/** Classification logits [batch, numLabels] for token features [batch, 3 * maxLength]. */
export function bertForward(cfg: BertConfig, params: Params, features: tf.Tensor2D, opts: ForwardOptions = {}): tf.Tensor2D {
  return new BertForward(cfg, params, opts).classify(features);
}

/** Final hidden states [batch * maxLength, hidden] (no head). */
export function bertHidden(cfg: BertConfig, params: Params, features: tf.Tensor2D, opts: ForwardOptions = {}): tf.Tensor2D {
  return new BertForward(cfg, params, opts).encode(features).hidden;
}

/** Masked-LM logits [rows, vocab] at flat positions `rows` of [batch * maxLength]. */
export function bertMaskedLm(cfg: BertConfig, params: Params, features: tf.Tensor2D, rows: tf.Tensor1D, opts: ForwardOptions = {}): tf.Tensor2D {
  return new BertForward(cfg, params, opts).maskedLm(features, rows);
}

/** Multiply-adds of one classification forward pass per example of `tokens` tokens. */
export function bertForwardMacs(cfg: BertConfig, tokens: number, loraRank = 0): number {
  const d = cfg.hiddenSize;
  let macs = 0;
  for (let i = 0; i < cfg.numHiddenLayers; i++) {
    macs += tokens * 4 * d * d + 2 * tokens * tokens * d + 2 * tokens * d * bertFfnWidth(cfg, i);
    if (loraRank > 0) macs += 4 * tokens * 2 * d * loraRank;
  }
  return macs + d * d + d * cfg.numLabels;
}
