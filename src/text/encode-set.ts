import { tokenFeatureSize, type LabelledExamples } from '../data/dataset.js';
import { UserError } from '../util/errors.js';
import type { LabelledTexts } from '../data/dataset.js';
import type { TextTokenizer } from './tokenizer.js';

/** How a text FM reads text: its tokenizer and the padded length of every example. */
export interface TextEncoding {
  tokenizer: TextTokenizer;
  maxLength: number;
}

/**
 * A text set as model features: each row holds maxLength input ids, then maxLength token-type
 * ids, then maxLength attention-mask values (pairs laid out and truncated as the tokenizer says,
 * padded on the right with its pad id and mask 0). The mask is the tokenizer's own, so a literal
 * pad token written in a text stays attended, as in HF.
 */
export function encodeTextSet(set: LabelledTexts, enc: TextEncoding): LabelledExamples {
  const { tokenizer, maxLength } = enc;
  if (tokenizer.padId === undefined) throw new UserError(tokenizer.source, 'padding', 'the tokenizer has no pad token; fixed-length batches need one');
  const batch = tokenizer.encodeBatch(set.texts, set.pairs, { maxLength });
  const n = batch.n;
  const width = tokenFeatureSize(maxLength);
  const features = new Float32Array(n * width);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < maxLength; j++) {
      features[i * width + j] = batch.inputIds[i * maxLength + j] as number;
      features[i * width + maxLength + j] = batch.tokenTypeIds[i * maxLength + j] as number;
      features[i * width + 2 * maxLength + j] = batch.attentionMask[i * maxLength + j] as number;
    }
  }
  return {
    name: set.name,
    features,
    featureSize: width,
    labels: set.labels,
    n,
    input: { kind: 'tokens', maxLength, padTokenId: tokenizer.padId },
    numClasses: set.numClasses,
    classNames: [...set.classNames],
  };
}
