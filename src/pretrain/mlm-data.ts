import { tokenFeatureSize } from '../data/dataset.js';
import type { Rng } from '../util/rng.js';

/**
 * Masked-LM training data: corpus texts tokenized into one stream, packed into [CLS] w [SEP]
 * windows of a fixed length, and BERT's masking (each ordinary token chosen with probability p;
 * a chosen token becomes [MASK] 80% of the time, a random ordinary token 10%, itself 10%).
 */

export interface PackedWindows {
  /** [n, length] token ids. */
  ids: Int32Array;
  n: number;
  length: number;
}

export interface SpecialIds {
  cls: number;
  sep: number;
  mask: number;
  /** Ids never chosen for masking nor drawn as random replacements. */
  special: ReadonlySet<number>;
  vocabSize: number;
}

/**
 * Packs the texts' token ids (each cut to `maxTokensPerText`) end to end and cuts the stream
 * into windows of length - 2 tokens, each wrapped in [CLS] ... [SEP]; the last partial window is
 * dropped. `tokenize` maps a text to ids without special tokens.
 */
export function packWindows(
  texts: readonly string[],
  tokenize: (text: string) => number[],
  length: number,
  ids: Pick<SpecialIds, 'cls' | 'sep'>,
  maxTokensPerText = Infinity,
): PackedWindows {
  const body = length - 2;
  const stream: number[] = [];
  for (const text of texts) {
    const t = tokenize(text);
    const keep = Math.min(t.length, maxTokensPerText);
    for (let i = 0; i < keep; i++) stream.push(t[i] as number);
  }
  const n = Math.floor(stream.length / body);
  const out = new Int32Array(n * length);
  for (let w = 0; w < n; w++) {
    out[w * length] = ids.cls;
    for (let j = 0; j < body; j++) out[w * length + 1 + j] = stream[w * body + j] as number;
    out[w * length + length - 1] = ids.sep;
  }
  return { ids: out, n, length };
}

/** Window indices split into training and held-out (every k-th window, starting at k - 1). */
export function splitWindows(n: number, every: number): { train: number[]; validation: number[] } {
  const train: number[] = [];
  const validation: number[] = [];
  for (let i = 0; i < n; i++) (i % every === every - 1 ? validation : train).push(i);
  return { train, validation };
}

export interface MaskedBatch {
  /**
   * [b, 3 * length]: the (masked) input ids, the token-type ids (all 0), the attention mask (all 1:
   * a packed window has no padding; a pad id written in the corpus is a token like any other, as in HF).
   */
  features: Float32Array;
  /** Flat positions (row * length + column) whose original token is predicted. */
  rows: Int32Array;
  /** The original tokens at `rows`. */
  labels: Int32Array;
}

/**
 * Masks the given windows. Draw order per position (fixed for determinism): one uniform for
 * "chosen", then for chosen ones one uniform for the 80/10/10 split and, for a random
 * replacement, draws until an ordinary token comes up. A batch with nothing chosen gets its
 * first ordinary position chosen, so every step has a loss.
 */
export function maskBatch(windows: PackedWindows, indices: readonly number[], specials: SpecialIds, probability: number, rng: Rng): MaskedBatch {
  const { length } = windows;
  const b = indices.length;
  const width = tokenFeatureSize(length);
  const features = new Float32Array(b * width);
  const rows: number[] = [];
  const labels: number[] = [];
  let firstOrdinary = -1;
  for (let r = 0; r < b; r++) {
    const base = (indices[r] as number) * length;
    for (let j = 0; j < length; j++) {
      const id = windows.ids[base + j] as number;
      let input = id;
      if (!specials.special.has(id)) {
        if (firstOrdinary < 0) firstOrdinary = r * length + j;
        if (rng.next() < probability) {
          rows.push(r * length + j);
          labels.push(id);
          const u = rng.next();
          if (u < 0.8) input = specials.mask;
          else if (u < 0.9) input = randomOrdinary(specials, rng);
        }
      }
      features[r * width + j] = input;
      features[r * width + 2 * length + j] = 1;
    }
  }
  if (rows.length === 0 && firstOrdinary >= 0) {
    const r = Math.floor(firstOrdinary / length);
    const j = firstOrdinary % length;
    rows.push(firstOrdinary);
    labels.push(features[r * width + j] as number);
    features[r * width + j] = specials.mask;
  }
  return { features, rows: Int32Array.from(rows), labels: Int32Array.from(labels) };
}

function randomOrdinary(specials: SpecialIds, rng: Rng): number {
  for (;;) {
    const id = rng.int(specials.vocabSize);
    if (!specials.special.has(id)) return id;
  }
}
