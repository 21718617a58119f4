import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * FM shapes the engine section times without weights (its steps draw random ones): `random:<shape>`
 * in --model becomes a directory holding only that config.json. Their full step is not timed: a
 * BERT-base full step (weights, gradients and activations) does not fit tfjs's 2 GB wasm heap.
 */
const SHAPES: Record<string, object> = {
  // bert-base-uncased's shape: 12 layers, d = 768, 12 heads, d_ff = 3072, 30,522 tokens.
  'bert-base': {
    architectures: ['BertForSequenceClassification'],
    model_type: 'bert',
    vocab_size: 30522,
    hidden_size: 768,
    num_hidden_layers: 12,
    num_attention_heads: 12,
    intermediate_size: 3072,
    hidden_act: 'gelu',
    hidden_dropout_prob: 0,
    attention_probs_dropout_prob: 0,
    max_position_embeddings: 512,
    type_vocab_size: 2,
    layer_norm_eps: 1e-12,
    pad_token_id: 0,
    id2label: { '0': 'LABEL_0', '1': 'LABEL_1' },
    label2id: { LABEL_0: 0, LABEL_1: 1 },
  },
};

export const RANDOM_FM_PREFIX = 'random:';
export const RANDOM_FM_NAMES = Object.keys(SHAPES).map((s) => RANDOM_FM_PREFIX + s);

/** A config-only directory for `random:<shape>`; null for an unknown shape. */
export function randomFmDir(name: string): string | null {
  const shape = SHAPES[name.slice(RANDOM_FM_PREFIX.length)];
  if (!name.startsWith(RANDOM_FM_PREFIX) || !shape) return null;
  // Named random-<shape> in the bench's tables.
  const dir = join(mkdtempSync(join(tmpdir(), 'fedpft-bench-')), `random-${name.slice(RANDOM_FM_PREFIX.length)}`);
  mkdirSync(dir);
  writeFileSync(join(dir, 'config.json'), JSON.stringify(shape, null, 2) + '\n');
  return dir;
}
