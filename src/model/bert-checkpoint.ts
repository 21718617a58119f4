import { UserError } from '../util/errors.js';
import { bertEncoderShapes, bertHeadShapes, bertRoot, mlmHeadShapes, type BertConfig } from './bert.js';
import { readCheckpoint, writeCheckpoint } from './checkpoint.js';
import { checkEncoderConfig, classNamesOf, hfConfigReader, labelMaps, loadTensors, numLabelsOf, transpose2d } from './hf-layout.js';
import type { Params } from './params.js';
import type { NamedArray } from './safetensors.js';
import { readFloats } from '../tensor/read.js';

/**
 * Maps between HuggingFace's BERT/RoBERTa checkpoint layout and the internal one (Linear weights
 * [out, in] become [in, out]; embeddings stay [rows, hidden]). Reads what HF writes for
 * BertModel (names without the `bert.` prefix), BertForPreTraining/BertForMaskedLM and the
 * sequence-classification models, and the RoBERTa equivalents.
 */

export function bertConfigFromHF(json: Record<string, unknown>, file: string): BertConfig {
  const { num, count } = hfConfigReader(json, file);
  const modelType = json['model_type'];
  if (modelType !== 'bert' && modelType !== 'roberta') {
    throw new UserError(file, 'model_type', `expected "bert" or "roberta", got ${JSON.stringify(modelType)}`);
  }
  const roberta = modelType === 'roberta';
  const padTokenId = num('pad_token_id', roberta ? 1 : 0);
  const cfg: BertConfig = {
    modelType,
    vocabSize: count('vocab_size'),
    hiddenSize: count('hidden_size'),
    numHiddenLayers: count('num_hidden_layers'),
    numAttentionHeads: count('num_attention_heads'),
    intermediateSize: count('intermediate_size'),
    maxPositionEmbeddings: count('max_position_embeddings'),
    typeVocabSize: count('type_vocab_size', roberta ? 1 : 2),
    layerNormEps: num('layer_norm_eps', 1e-12),
    padTokenId,
    hiddenDropoutProb: num('hidden_dropout_prob', 0.1),
    numLabels: numLabelsOf(json, file),
  };
  checkEncoderConfig(json, file, cfg);
  if (!Number.isSafeInteger(padTokenId) || padTokenId < 0 || padTokenId >= cfg.vocabSize) {
    throw new UserError(file, 'pad_token_id', `expected an integer in [0, ${cfg.vocabSize}), got ${padTokenId}`);
  }
  if (!(cfg.hiddenDropoutProb >= 0 && cfg.hiddenDropoutProb < 1)) {
    throw new UserError(file, 'hidden_dropout_prob', `expected a number in [0, 1), got ${cfg.hiddenDropoutProb}`);
  }
  if (roberta && cfg.maxPositionEmbeddings <= padTokenId + 1) {
    throw new UserError(file, 'max_position_embeddings', `must exceed pad_token_id + 1 (${padTokenId + 1}) for RoBERTa`);
  }
  const pe = json['position_embedding_type'] ?? 'absolute';
  if (pe !== 'absolute') throw new UserError(file, 'position_embedding_type', `only "absolute" is supported, got ${JSON.stringify(pe)}`);
  return cfg;
}

export function bertConfigToHF(cfg: BertConfig, classNames: readonly string[]): Record<string, unknown> {
  const roberta = cfg.modelType === 'roberta';
  return {
    architectures: [roberta ? 'RobertaForSequenceClassification' : 'BertForSequenceClassification'],
    model_type: cfg.modelType,
    vocab_size: cfg.vocabSize,
    hidden_size: cfg.hiddenSize,
    num_hidden_layers: cfg.numHiddenLayers,
    num_attention_heads: cfg.numAttentionHeads,
    intermediate_size: cfg.intermediateSize,
    ...(cfg.intermediateSizes ? { intermediate_sizes: cfg.intermediateSizes } : {}),
    hidden_act: 'gelu',
    hidden_dropout_prob: cfg.hiddenDropoutProb,
    attention_probs_dropout_prob: 0,
    max_position_embeddings: cfg.maxPositionEmbeddings,
    type_vocab_size: cfg.typeVocabSize,
    layer_norm_eps: cfg.layerNormEps,
    pad_token_id: cfg.padTokenId,
    position_embedding_type: 'absolute',
    initializer_range: 0.02,
    ...labelMaps(classNames),
  };
}

/** Internal dense weights are [in, out]; embeddings and LayerNorm gains keep their shape. */
function isLinearWeight(name: string, rank: number): boolean {
  return rank === 2 && name.endsWith('.weight') && !name.includes('embeddings.');
}

function swapLinear(name: string, shape: number[], data: Float32Array): { shape: number[]; data: Float32Array } {
  if (!isLinearWeight(name, shape.length)) return { shape, data };
  const [r, c] = shape as [number, number];
  return { shape: [c, r], data: transpose2d(data, r, c) };
}

export interface LoadedBert {
  cfg: BertConfig;
  params: Params;
  classNames: string[];
  dir: string;
  /** Whether the checkpoint held a sequence-classification head (else it was left out of params). */
  hasClassifier: boolean;
  /** Whether it held a masked-LM head (its tensors are in params then). */
  hasMaskedLmHead: boolean;
}

/**
 * Loads a BERT/RoBERTa directory. The encoder must be complete; the classification head and
 * the masked-LM head are loaded when all of their tensors are present (a pretraining checkpoint
 * has no classifier, a fine-tuned one usually no MLM head).
 */
export function loadBert(dir: string): LoadedBert {
  const ckpt = readCheckpoint(dir);
  const configFile = `${dir}/config.json`;
  const cfg = bertConfigFromHF(ckpt.config, configFile);
  const root = bertRoot(cfg);
  // BertModel.save_pretrained writes encoder names without the model prefix.
  const prefixed = ckpt.tensors.has(`${root}.embeddings.word_embeddings.weight`);
  const lookup = (name: string) => (!prefixed && name.startsWith(`${root}.`) ? name.slice(root.length + 1) : name);
  const head = bertHeadShapes(cfg);
  const mlm = mlmHeadShapes(cfg);
  const present = (shapes: Map<string, number[]>) => [...shapes.keys()].every((n) => ckpt.tensors.has(lookup(n)));
  const hasClassifier = present(head);
  const hasMaskedLmHead = present(mlm);
  const shapes = () => {
    const all = new Map([...bertEncoderShapes(cfg), ...(hasClassifier ? head : []), ...(hasMaskedLmHead ? mlm : [])]);
    // A pretrained BERT keeps its pooler even without a classifier.
    const pooler = cfg.modelType === 'bert' && !hasClassifier && ckpt.tensors.has(lookup('bert.pooler.dense.weight'));
    if (pooler) for (const n of ['bert.pooler.dense.weight', 'bert.pooler.dense.bias']) all.set(n, head.get(n) as number[]);
    return all;
  };
  const params = loadTensors(ckpt, shapes, swapLinear, lookup);
  return { cfg, params, classNames: classNamesOf(ckpt.config, cfg.numLabels), dir, hasClassifier, hasMaskedLmHead };
}

export async function saveBert(dir: string, cfg: BertConfig, params: Params, classNames: readonly string[], metadata: Record<string, string> = {}): Promise<{ sha256: string }> {
  const tensors: NamedArray[] = [];
  for (const [name, t] of params) {
    const { shape, data } = swapLinear(name, t.shape, await readFloats(t));
    tensors.push({ name, shape, data });
  }
  return writeCheckpoint(dir, bertConfigToHF(cfg, classNames), tensors, { format: 'pt', ...metadata });
}
