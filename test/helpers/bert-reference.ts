/**
 * A plain-JS BERT / RoBERTa forward pass in HuggingFace's own layout and names (PyTorch Linear
 * weights [out, in]), written with nested loops in float64 from HF's modeling_bert.py and
 * modeling_roberta.py, independent of the tfjs implementation. As in HF, the caller passes the
 * attention mask (the tokenizer's `attention_mask`): keys with mask 0 are skipped in the softmax
 * (rather than offset by a large negative number as the model under test does), and a literal pad
 * id with mask 1 is attended like any token. RoBERTa's position ids still come from the ids
 * (HF's create_position_ids_from_input_ids: `input_ids != padding_idx`).
 */
import { geluExact, get, layerNorm, linear, type HfTensor, type RefLora } from './vit-reference.js';

export interface BertRefConfig {
  modelType: 'bert' | 'roberta';
  vocabSize: number;
  hiddenSize: number;
  numHiddenLayers: number;
  numAttentionHeads: number;
  intermediateSize: number;
  maxPositionEmbeddings: number;
  typeVocabSize: number;
  numLabels: number;
  layerNormEps: number;
  padTokenId: number;
}

/** HF parameter names and shapes of Bert/RobertaForSequenceClassification plus the masked-LM head. */
export function bertHfShapes(cfg: BertRefConfig, withMlm: boolean): Map<string, number[]> {
  const d = cfg.hiddenSize;
  const root = cfg.modelType;
  const s = new Map<string, number[]>();
  s.set(`${root}.embeddings.word_embeddings.weight`, [cfg.vocabSize, d]);
  s.set(`${root}.embeddings.position_embeddings.weight`, [cfg.maxPositionEmbeddings, d]);
  s.set(`${root}.embeddings.token_type_embeddings.weight`, [cfg.typeVocabSize, d]);
  s.set(`${root}.embeddings.LayerNorm.weight`, [d]);
  s.set(`${root}.embeddings.LayerNorm.bias`, [d]);
  for (let l = 0; l < cfg.numHiddenLayers; l++) {
    const p = `${root}.encoder.layer.${l}`;
    for (const t of ['self.query', 'self.key', 'self.value', 'output.dense']) {
      s.set(`${p}.attention.${t}.weight`, [d, d]);
      s.set(`${p}.attention.${t}.bias`, [d]);
    }
    s.set(`${p}.attention.output.LayerNorm.weight`, [d]);
    s.set(`${p}.attention.output.LayerNorm.bias`, [d]);
    s.set(`${p}.intermediate.dense.weight`, [cfg.intermediateSize, d]);
    s.set(`${p}.intermediate.dense.bias`, [cfg.intermediateSize]);
    s.set(`${p}.output.dense.weight`, [d, cfg.intermediateSize]);
    s.set(`${p}.output.dense.bias`, [d]);
    s.set(`${p}.output.LayerNorm.weight`, [d]);
    s.set(`${p}.output.LayerNorm.bias`, [d]);
  }
  if (root === 'bert') {
    s.set('bert.pooler.dense.weight', [d, d]);
    s.set('bert.pooler.dense.bias', [d]);
    s.set('classifier.weight', [cfg.numLabels, d]);
    s.set('classifier.bias', [cfg.numLabels]);
  } else {
    s.set('classifier.dense.weight', [d, d]);
    s.set('classifier.dense.bias', [d]);
    s.set('classifier.out_proj.weight', [cfg.numLabels, d]);
    s.set('classifier.out_proj.bias', [cfg.numLabels]);
  }
  if (withMlm) {
    const dense = root === 'bert' ? 'cls.predictions.transform.dense' : 'lm_head.dense';
    const ln = root === 'bert' ? 'cls.predictions.transform.LayerNorm' : 'lm_head.layer_norm';
    s.set(`${dense}.weight`, [d, d]);
    s.set(`${dense}.bias`, [d]);
    s.set(`${ln}.weight`, [d]);
    s.set(`${ln}.bias`, [d]);
    s.set(root === 'bert' ? 'cls.predictions.bias' : 'lm_head.bias', [cfg.vocabSize]);
  }
  return s;
}

/** HF's position ids: 0..T-1 for BERT; padTokenId + running count of real tokens for RoBERTa (pads keep padTokenId). */
export function positionIds(cfg: BertRefConfig, ids: readonly number[]): number[] {
  if (cfg.modelType === 'bert') return ids.map((_, i) => i);
  let count = 0;
  return ids.map((id) => (id === cfg.padTokenId ? cfg.padTokenId : cfg.padTokenId + ++count));
}

/** Final hidden states [T][d] of one sequence; `mask` is its attention mask (1 attended, 0 padding). */
export function bertReferenceHidden(
  cfg: BertRefConfig,
  params: ReadonlyMap<string, HfTensor>,
  ids: readonly number[],
  types: readonly number[],
  mask: readonly number[],
  lora?: RefLora,
): Float64Array[] {
  if (mask.length !== ids.length) throw new RangeError(`${ids.length} ids but ${mask.length} mask values`);
  const d = cfg.hiddenSize;
  const dh = d / cfg.numAttentionHeads;
  const root = cfg.modelType;
  const word = get(params, `${root}.embeddings.word_embeddings.weight`);
  const pos = get(params, `${root}.embeddings.position_embeddings.weight`);
  const typ = get(params, `${root}.embeddings.token_type_embeddings.weight`);
  const positions = positionIds(cfg, ids);
  const real = mask.map((m) => m !== 0);
  const emb = ids.map((id, t) => {
    const row = new Float64Array(d);
    for (let i = 0; i < d; i++) row[i] = (word[id * d + i] as number) + (pos[(positions[t] as number) * d + i] as number) + (typ[(types[t] as number) * d + i] as number);
    return row;
  });
  const ln = (x: Float64Array[], name: string) => layerNorm(x, get(params, `${name}.weight`), get(params, `${name}.bias`), cfg.layerNormEps);
  let x = ln(emb, `${root}.embeddings.LayerNorm`);
  const T = ids.length;
  for (let l = 0; l < cfg.numHiddenLayers; l++) {
    const p = `${root}.encoder.layer.${l}`;
    const q = linear(x, params, `${p}.attention.self.query`, d, d, lora);
    const k = linear(x, params, `${p}.attention.self.key`, d, d, lora);
    const v = linear(x, params, `${p}.attention.self.value`, d, d, lora);
    const ctx = Array.from({ length: T }, () => new Float64Array(d));
    for (let h = 0; h < cfg.numAttentionHeads; h++) {
      const off = h * dh;
      for (let i = 0; i < T; i++) {
        const w = new Float64Array(T);
        let max = -Infinity;
        for (let j = 0; j < T; j++) {
          if (!real[j]) continue;
          let s = 0;
          for (let c = 0; c < dh; c++) s += (q[i]![off + c] as number) * (k[j]![off + c] as number);
          w[j] = s / Math.sqrt(dh);
          max = Math.max(max, w[j] as number);
        }
        let z = 0;
        for (let j = 0; j < T; j++) {
          w[j] = real[j] ? Math.exp((w[j] as number) - max) : 0;
          z += w[j] as number;
        }
        for (let j = 0; j < T; j++) for (let c = 0; c < dh; c++) ctx[i]![off + c] = (ctx[i]![off + c] as number) + ((w[j] as number) / z) * (v[j]![off + c] as number);
      }
    }
    const attn = linear(ctx, params, `${p}.attention.output.dense`, d, d, lora);
    x = ln(x.map((row, t) => row.map((val, i) => val + (attn[t]![i] as number))), `${p}.attention.output.LayerNorm`);
    const inter = linear(x, params, `${p}.intermediate.dense`, d, cfg.intermediateSize, lora).map((row) => row.map(geluExact));
    const out = linear(inter, params, `${p}.output.dense`, cfg.intermediateSize, d, lora);
    x = ln(x.map((row, t) => row.map((val, i) => val + (out[t]![i] as number))), `${p}.output.LayerNorm`);
  }
  return x;
}

/** Sequence-classification logits of one sequence (BertForSequenceClassification / RobertaForSequenceClassification, eval mode). */
export function bertReferenceLogits(
  cfg: BertRefConfig,
  params: ReadonlyMap<string, HfTensor>,
  ids: readonly number[],
  types: readonly number[],
  mask: readonly number[],
  lora?: RefLora,
): Float64Array {
  const d = cfg.hiddenSize;
  const first = [bertReferenceHidden(cfg, params, ids, types, mask, lora)[0] as Float64Array];
  if (cfg.modelType === 'bert') {
    const pooled = linear(first, params, 'bert.pooler.dense', d, d, lora).map((r) => r.map(Math.tanh));
    return linear(pooled, params, 'classifier', d, cfg.numLabels, lora)[0] as Float64Array;
  }
  const h = linear(first, params, 'classifier.dense', d, d, lora).map((r) => r.map(Math.tanh));
  return linear(h, params, 'classifier.out_proj', d, cfg.numLabels, lora)[0] as Float64Array;
}

/** Masked-LM vocabulary logits at position `at` (decoder tied to the word embeddings). */
export function bertReferenceMlm(cfg: BertRefConfig, params: ReadonlyMap<string, HfTensor>, ids: readonly number[], types: readonly number[], mask: readonly number[], at: number): Float64Array {
  const d = cfg.hiddenSize;
  const bert = cfg.modelType === 'bert';
  const hidden = [bertReferenceHidden(cfg, params, ids, types, mask)[at] as Float64Array];
  const dense = linear(hidden, params, bert ? 'cls.predictions.transform.dense' : 'lm_head.dense', d, d).map((r) => r.map(geluExact));
  const lnName = bert ? 'cls.predictions.transform.LayerNorm' : 'lm_head.layer_norm';
  const h = layerNorm(dense, get(params, `${lnName}.weight`), get(params, `${lnName}.bias`), cfg.layerNormEps)[0] as Float64Array;
  const word = get(params, `${cfg.modelType}.embeddings.word_embeddings.weight`);
  const bias = get(params, bert ? 'cls.predictions.bias' : 'lm_head.bias');
  const out = new Float64Array(cfg.vocabSize);
  for (let v = 0; v < cfg.vocabSize; v++) {
    let s = bias[v] as number;
    for (let i = 0; i < d; i++) s += (h[i] as number) * (word[v * d + i] as number);
    out[v] = s;
  }
  return out;
}
