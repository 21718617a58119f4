/**
 * A text task's sanity baseline: multinomial naive Bayes over the bag of token ids each example
 * shows the FM (its tokenizer, truncated to task.maxLength, padding left out), with add-alpha
 * smoothing, trained on the whole training split at once. A federated fine-tuning run that ends
 * below it has learnt less than word counts carry.
 */
import { tokensOfFeatureSize, type LabelledExamples } from '../data/dataset.js';

export interface NaiveBayesResult {
  /** Accuracy on `test` in [0, 1]. */
  accuracy: number;
  /** The largest class's share of `test`: what predicting one class scores. */
  majority: number;
}

/** The attended token ids of example i (ids plane where the mask plane is 1). */
function tokensOf(set: LabelledExamples, i: number): number[] {
  const length = tokensOfFeatureSize(set.featureSize);
  const row = set.features.subarray(i * set.featureSize, (i + 1) * set.featureSize);
  const ids: number[] = [];
  for (let t = 0; t < length; t++) if (row[2 * length + t] === 1) ids.push(row[t] as number);
  return ids;
}

export function naiveBayes(train: LabelledExamples, test: LabelledExamples, alpha = 1): NaiveBayesResult {
  if (train.input.kind !== 'tokens' || test.input.kind !== 'tokens') throw new Error('naive Bayes reads token ids: a text task');
  const classes = train.numClasses;
  let vocab = 0;
  const docs = Array.from({ length: train.n }, (_, i) => tokensOf(train, i));
  for (const d of docs) for (const id of d) vocab = Math.max(vocab, id + 1);
  const counts = Array.from({ length: classes }, () => new Float64Array(vocab));
  const totals = new Float64Array(classes);
  const docsPerClass = new Float64Array(classes);
  docs.forEach((d, i) => {
    const c = train.labels[i] as number;
    docsPerClass[c] = (docsPerClass[c] as number) + 1;
    for (const id of d) (counts[c] as Float64Array)[id] = ((counts[c] as Float64Array)[id] as number) + 1;
    totals[c] = (totals[c] as number) + d.length;
  });
  const logPrior = Array.from(docsPerClass, (k) => Math.log(k / train.n));
  let correct = 0;
  const testCounts = new Float64Array(classes);
  for (let i = 0; i < test.n; i++) {
    let best = -1;
    let bestScore = -Infinity;
    const ids = tokensOf(test, i);
    for (let c = 0; c < classes; c++) {
      const denominator = Math.log((totals[c] as number) + alpha * vocab);
      let score = logPrior[c] as number;
      // Ids the training split never showed have the same smoothed weight in every class: left out.
      for (const id of ids) if (id < vocab) score += Math.log(((counts[c] as Float64Array)[id] as number) + alpha) - denominator;
      if (score > bestScore) [best, bestScore] = [c, score];
    }
    const label = test.labels[i] as number;
    if (best === label) correct++;
    testCounts[label] = (testCounts[label] as number) + 1;
  }
  return { accuracy: correct / test.n, majority: Math.max(...testCounts) / test.n };
}
