import { beforeAll, describe, expect, it } from 'vitest';
import { trainableNames, withLoraAndHead, type HeadChoice } from '../src/methods/lora-setup.js';
import { initBertParams, type BertConfig } from '../src/model/bert.js';
import { disposeParams, type Params } from '../src/model/params.js';
import { initBackend } from '../src/tensor/backend.js';
import { Rng } from '../src/util/rng.js';
import { tinyBert } from './helpers/kit.js';

const BERT: BertConfig = tinyBert({ hiddenSize: 8, intermediateSize: 16, hiddenDropoutProb: 0.1 });
const LORA = { rank: 2, alpha: 4, dropout: 0.1 };
const POOLER = ['bert.pooler.dense.bias', 'bert.pooler.dense.weight'];

/** The trained head tensors (everything but LoRA) for a base FM with or without a pretrained pooler. */
function headOf(cfg: BertConfig, withPooler: boolean, head: HeadChoice): string[] {
  const base: Params = initBertParams(cfg, new Rng('lora-setup'));
  if (!withPooler) {
    for (const n of POOLER) {
      base.get(n)?.dispose();
      base.delete(n);
    }
  }
  const task = withLoraAndHead(base, cfg, 3, LORA, 1, head);
  const names = trainableNames(task.params, task.exchanged).filter((n) => !n.includes('.lora_'));
  disposeParams(base);
  disposeParams(task.params);
  return names;
}

describe('the exchanged head (method.head)', () => {
  beforeAll(async () => {
    await initBackend('wasm', 'exact');
  });

  it("auto: BERT's pretrained pooler stays frozen; a pooler the FM lacks is drawn and trains", () => {
    expect(headOf(BERT, true, 'auto')).toEqual(['classifier.bias', 'classifier.weight']);
    expect(headOf(BERT, false, 'auto')).toEqual(['bert.pooler.dense.bias', 'bert.pooler.dense.weight', 'classifier.bias', 'classifier.weight']);
  });

  it('classifier and classifier+pooler decide it whatever the FM holds', () => {
    for (const withPooler of [true, false]) {
      expect(headOf(BERT, withPooler, 'classifier')).toEqual(['classifier.bias', 'classifier.weight']);
      expect(headOf(BERT, withPooler, 'classifier+pooler')).toEqual([...POOLER, 'classifier.bias', 'classifier.weight']);
    }
  });

  it("RoBERTa's classifier is its whole classification head (dense and out_proj)", () => {
    const roberta: BertConfig = { ...BERT, modelType: 'roberta', padTokenId: 1, maxPositionEmbeddings: 12, typeVocabSize: 1 };
    expect(headOf(roberta, false, 'auto')).toEqual(['classifier.dense.bias', 'classifier.dense.weight', 'classifier.out_proj.bias', 'classifier.out_proj.weight']);
  });
});
