import { createHash } from 'node:crypto';
/** A labelled text set. Texts are plain strings; tokenization happens later, per model. */
export interface LabelledTexts {
  name: string;
  /** The (first) segment of each example. */
  texts: string[];
  /** The second segment of each example, for sentence-pair tasks (e.g. GLUE QNLI, MNLI, QQP). */
  pairs?: string[];
  /** [n], class ids in [0, numClasses). */
  labels: Int32Array;
  numClasses: number;
  classNames: string[];
  /** Where each example came from (spam: the package's file id; sotu-party: the speech's file name). */
  sources?: string[];
}

/** How to read one example's feature vector. */
export type InputShape =
  | { kind: 'image'; channels: number; height: number; width: number }
  /**
   * features = [input_ids (maxLength) | token_type_ids (maxLength) | attention_mask (maxLength)]
   * (TOKEN_PLANES planes), as floats (ids exact below 2^24). Padding uses padTokenId with mask 0;
   * the mask is the tokenizer's, as HF's: a literal pad token in a text keeps mask 1 and is attended.
   */
  | { kind: 'tokens'; maxLength: number; padTokenId: number };

/** Planes of a text example's features: input ids, token-type ids, attention mask. */
export const TOKEN_PLANES = 3;

/** Feature values per text example of `maxLength` tokens. */
export function tokenFeatureSize(maxLength: number): number {
  return TOKEN_PLANES * maxLength;
}

/** Tokens per text example of `featureSize` feature values (three planes of them). */
export function tokensOfFeatureSize(featureSize: number): number {
  if (!Number.isInteger(featureSize / TOKEN_PLANES)) throw new RangeError(`text features of width ${featureSize} are not ${TOKEN_PLANES} planes (ids, token types, attention mask)`);
  return featureSize / TOKEN_PLANES;
}

/** A labelled example set held as one flat buffer, so it can be shared with workers without copies. */
export interface LabelledExamples {
  name: string;
  /** [n, featureSize], row-major. Images: NCHW values in [0,1]. */
  features: Float32Array;
  featureSize: number;
  /** [n], class ids in [0, numClasses). */
  labels: Int32Array;
  n: number;
  input: InputShape;
  numClasses: number;
  classNames: string[];
}

/** Whether two sets can go through the same model input (same kind and sizes). */
export function sameInput(a: InputShape, b: InputShape): boolean {
  if (a.kind === 'image' && b.kind === 'image') return a.channels === b.channels && a.height === b.height && a.width === b.width;
  if (a.kind === 'tokens' && b.kind === 'tokens') return a.maxLength === b.maxLength && a.padTokenId === b.padTokenId;
  return false;
}

export interface TaskData {
  train: LabelledExamples;
  validation: LabelledExamples;
}

/**
 * The first `count` examples, as views on the same buffers (no copy). Loaders order examples
 * so that prefixes stay class-balanced, which is what makes a prefix a fair subset.
 */
export function prefix(d: LabelledExamples, count: number): LabelledExamples {
  if (count >= d.n) return d;
  return {
    ...d,
    features: d.features.subarray(0, count * d.featureSize),
    labels: d.labels.subarray(0, count),
    n: count,
  };
}

/**
 * A copy whose features and labels live in SharedArrayBuffers: posting it to a worker then shares
 * memory instead of cloning tens of megabytes per worker.
 */
export function toShared(d: LabelledExamples): LabelledExamples {
  const features = new Float32Array(new SharedArrayBuffer(d.features.byteLength));
  features.set(d.features);
  const labels = new Int32Array(new SharedArrayBuffer(d.labels.byteLength));
  labels.set(d.labels);
  return { ...d, input: { ...d.input }, features, labels, classNames: [...d.classNames] };
}

/** sha256 of a training set's contents (sizes, features, labels): actors that load it themselves check theirs against the server's. */
export function examplesHash(d: Pick<LabelledExamples, 'features' | 'labels' | 'featureSize'>): string {
  const h = createHash('sha256');
  h.update(Int32Array.of(d.featureSize, d.labels.length));
  h.update(new Uint8Array(d.features.buffer, d.features.byteOffset, d.features.byteLength));
  h.update(new Uint8Array(d.labels.buffer, d.labels.byteOffset, d.labels.byteLength));
  return h.digest('hex');
}
