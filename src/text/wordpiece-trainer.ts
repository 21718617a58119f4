/**
 * A deterministic WordPiece vocabulary trainer that writes a bert-base-uncased style tokenizer.json.
 *
 * The algorithm is the one the HF tokenizers library's WordPieceTrainer runs (a BPE trainer with
 * the `##` continuing-subword prefix), i.e. merges by pair FREQUENCY, not by the likelihood score
 * freq(ab) / (freq(a) freq(b)) of Google's original WordPiece:
 * 1. every text is normalised as BERT uncased does (clean control characters, space out CJK
 *    characters, lowercase, strip accents) and pre-tokenised (split on whitespace, each
 *    punctuation character its own word); words are counted;
 * 2. the initial vocabulary is the special tokens (ids 0.. in the given order), then every
 *    character, then `##c` for every character c seen inside a word, each group sorted by code
 *    point (with limitAlphabet, only the most frequent characters are kept,
 *    ties by code point, and words holding another character are left out of training);
 * 3. each word is split into its first character and `##` pieces; repeatedly, the adjacent pair
 *    (a, b) with the highest count over all words (weighted by word frequency) is merged into
 *    a + b without b's `##`, and the result is added to the vocabulary if new, until the
 *    vocabulary has vocabSize tokens or the best count is below minFrequency. Ties go to the
 *    smaller pair in string order (a first, then b; JavaScript's UTF-16 code unit order), so the
 *    result depends only on the multiset of words, never on hash or input order.
 * The vocabulary is never cut below specials + alphabet, even if vocabSize is smaller.
 */
import { UserError } from '../util/errors.js';
import { hf } from './hf.js';
import type { TokenizerJson } from './tokenizer-json.js';

export interface WordPieceTrainOptions {
  /** Target vocabulary size, special tokens included. */
  vocabSize: number;
  /** A pair is merged only if it occurs at least this often (default 2). */
  minFrequency?: number;
  /** Default ['[PAD]', '[UNK]', '[CLS]', '[SEP]', '[MASK]'] (ids 0-4); must include [UNK], [CLS] and [SEP]. */
  specialTokens?: string[];
  /** Keep at most this many distinct characters (default: all). */
  limitAlphabet?: number;
}

const PREFIX = '##';
const DEFAULT_SPECIALS = ['[PAD]', '[UNK]', '[CLS]', '[SEP]', '[MASK]'];
/** Pair keys pack two symbol ids as a * SHIFT + b (exact in a double while ids < 2^22). */
const SHIFT = 2 ** 22;

const NORMALIZER = {
  type: 'BertNormalizer',
  clean_text: true,
  handle_chinese_chars: true,
  strip_accents: null,
  lowercase: true,
};

function fail(field: string, expected: string): never {
  throw new UserError('trainWordPiece', field, expected);
}

/** Word counts after BERT normalisation and pre-tokenisation. */
export function bertWordCounts(texts: readonly string[]): Map<string, number> {
  const normalizer = new hf.BertNormalizer(NORMALIZER);
  const pre = new hf.BertPreTokenizer();
  const counts = new Map<string, number>();
  for (const text of texts) {
    for (const w of pre.pre_tokenize_text(normalizer.normalize(text))) counts.set(w, (counts.get(w) ?? 0) + 1);
  }
  return counts;
}

interface HeapEntry {
  count: number;
  a: number;
  b: number;
}

/** A binary max-heap of pair entries: higher count first, then smaller (a, b) strings. */
class PairHeap {
  private readonly items: HeapEntry[] = [];
  constructor(private readonly symbols: string[]) {}

  private before(x: HeapEntry, y: HeapEntry): boolean {
    if (x.count !== y.count) return x.count > y.count;
    const sa = this.symbols[x.a] as string;
    const ta = this.symbols[y.a] as string;
    if (sa !== ta) return sa < ta;
    return (this.symbols[x.b] as string) < (this.symbols[y.b] as string);
  }

  push(e: HeapEntry): void {
    const h = this.items;
    h.push(e);
    let i = h.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!this.before(h[i] as HeapEntry, h[p] as HeapEntry)) break;
      [h[i], h[p]] = [h[p] as HeapEntry, h[i] as HeapEntry];
      i = p;
    }
  }

  pop(): HeapEntry | undefined {
    const h = this.items;
    const top = h[0];
    const last = h.pop();
    if (h.length > 0 && last) {
      h[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < h.length && this.before(h[l] as HeapEntry, h[m] as HeapEntry)) m = l;
        if (r < h.length && this.before(h[r] as HeapEntry, h[m] as HeapEntry)) m = r;
        if (m === i) break;
        [h[i], h[m]] = [h[m] as HeapEntry, h[i] as HeapEntry];
        i = m;
      }
    }
    return top;
  }
}

function byCodePoint(x: string, y: string): number {
  return (x.codePointAt(0) as number) - (y.codePointAt(0) as number);
}

/** Trains a WordPiece vocabulary (see the file comment) and returns a tokenizer.json object. */
export function trainWordPiece(texts: readonly string[], opts: WordPieceTrainOptions): TokenizerJson {
  const { vocabSize } = opts;
  const minFrequency = opts.minFrequency ?? 2;
  const specials = opts.specialTokens ?? DEFAULT_SPECIALS;
  if (!Number.isInteger(vocabSize) || vocabSize < 1 || vocabSize >= SHIFT) fail('vocabSize', `expected an integer in [1, ${SHIFT}), got ${vocabSize}`);
  if (!Number.isInteger(minFrequency) || minFrequency < 0) fail('minFrequency', `expected a non-negative integer, got ${minFrequency}`);
  if (new Set(specials).size !== specials.length) fail('specialTokens', 'expected distinct tokens');
  for (const t of ['[UNK]', '[CLS]', '[SEP]']) if (!specials.includes(t)) fail('specialTokens', `must include ${t}`);
  if (opts.limitAlphabet !== undefined && !(Number.isInteger(opts.limitAlphabet) && opts.limitAlphabet > 0)) {
    fail('limitAlphabet', `expected a positive integer, got ${opts.limitAlphabet}`);
  }

  const counts = bertWordCounts(texts);
  const words = [...counts.keys()].sort();

  // Alphabet.
  const charCounts = new Map<string, number>();
  for (const w of words) for (const ch of w) charCounts.set(ch, (charCounts.get(ch) ?? 0) + (counts.get(w) as number));
  let alphabet = [...charCounts.keys()];
  if (opts.limitAlphabet !== undefined && alphabet.length > opts.limitAlphabet) {
    alphabet = alphabet
      .sort((x, y) => (charCounts.get(y) as number) - (charCounts.get(x) as number) || byCodePoint(x, y))
      .slice(0, opts.limitAlphabet);
  }
  const allowed = new Set(alphabet);
  const trainWords = words.filter((w) => [...w].every((ch) => allowed.has(ch)));
  const inner = new Set<string>();
  for (const w of trainWords) [...w].slice(1).forEach((ch) => inner.add(ch));
  const vocab: string[] = [...specials];
  const ids = new Map<string, number>(specials.map((t, i) => [t, i]));
  const add = (token: string): number => {
    let id = ids.get(token);
    if (id === undefined) {
      id = vocab.length;
      vocab.push(token);
      ids.set(token, id);
    }
    return id;
  };
  for (const ch of [...alphabet].sort(byCodePoint)) add(ch);
  for (const ch of [...inner].sort(byCodePoint)) add(PREFIX + ch);

  // Words as symbol sequences, pair counts and where each pair occurs.
  const seqs = trainWords.map((w) => Int32Array.from([...w], (ch, i) => ids.get(i === 0 ? ch : PREFIX + ch) as number));
  const weights = trainWords.map((w) => counts.get(w) as number);
  const pairCount = new Map<number, number>();
  const where = new Map<number, Set<number>>();
  const addPairs = (seq: Int32Array, w: number, sign: 1 | -1, delta: Map<number, number>): void => {
    const c = sign * (weights[w] as number);
    for (let i = 0; i + 1 < seq.length; i++) {
      const key = (seq[i] as number) * SHIFT + (seq[i + 1] as number);
      pairCount.set(key, (pairCount.get(key) ?? 0) + c);
      delta.set(key, (delta.get(key) ?? 0) + c);
      if (sign > 0) {
        let set = where.get(key);
        if (!set) where.set(key, (set = new Set()));
        set.add(w);
      }
    }
  };
  const initialDelta = new Map<number, number>();
  seqs.forEach((seq, w) => addPairs(seq, w, 1, initialDelta));
  const heap = new PairHeap(vocab);
  for (const [key, count] of pairCount) heap.push({ count, a: Math.floor(key / SHIFT), b: key % SHIFT });

  while (vocab.length < vocabSize) {
    const top = heap.pop();
    if (!top) break;
    const key = top.a * SHIFT + top.b;
    if (pairCount.get(key) !== top.count) continue; // stale entry: a fresher one is in the heap
    if (top.count < minFrequency || top.count <= 0) break;
    const merged = add((vocab[top.a] as string) + (vocab[top.b] as string).slice(PREFIX.length));
    const delta = new Map<number, number>();
    for (const w of [...(where.get(key) ?? [])]) {
      const seq = seqs[w] as Int32Array;
      let hit = false;
      for (let i = 0; i + 1 < seq.length; i++) if (seq[i] === top.a && seq[i + 1] === top.b) hit = true;
      if (!hit) continue;
      addPairs(seq, w, -1, delta);
      const next: number[] = [];
      for (let i = 0; i < seq.length; i++) {
        if (i + 1 < seq.length && seq[i] === top.a && seq[i + 1] === top.b) {
          next.push(merged);
          i++;
        } else next.push(seq[i] as number);
      }
      seqs[w] = Int32Array.from(next);
      addPairs(seqs[w] as Int32Array, w, 1, delta);
    }
    for (const [k, d] of delta) {
      const count = pairCount.get(k) as number;
      if (count <= 0) {
        pairCount.delete(k);
        where.delete(k);
      } else if (d !== 0) heap.push({ count, a: Math.floor(k / SHIFT), b: k % SHIFT });
    }
  }

  return wordPieceJson(vocab, specials);
}

/**
 * A BERT-layout WordPiece tokenizer.json for a vocabulary (uncased BERT normalisation, [CLS] a [SEP] b [SEP]);
 * what the trainer writes and what a bert-base style vocab.txt stands for.
 */
export function wordPieceJson(vocab: readonly string[], specials: readonly string[], lowercase = true): TokenizerJson {
  const ids = new Map(vocab.map((t, i) => [t, i]));
  const special = (t: string) => ({ id: ids.get(t) as number, content: t, single_word: false, lstrip: false, rstrip: false, normalized: false, special: true });
  const cls = ids.get('[CLS]') as number;
  const sep = ids.get('[SEP]') as number;
  return {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: specials.map(special),
    normalizer: { ...NORMALIZER, lowercase },
    pre_tokenizer: { type: 'BertPreTokenizer' },
    post_processor: {
      type: 'TemplateProcessing',
      single: [{ SpecialToken: { id: '[CLS]', type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } }, { SpecialToken: { id: '[SEP]', type_id: 0 } }],
      pair: [
        { SpecialToken: { id: '[CLS]', type_id: 0 } },
        { Sequence: { id: 'A', type_id: 0 } },
        { SpecialToken: { id: '[SEP]', type_id: 0 } },
        { Sequence: { id: 'B', type_id: 1 } },
        { SpecialToken: { id: '[SEP]', type_id: 1 } },
      ],
      special_tokens: {
        '[CLS]': { id: '[CLS]', ids: [cls], tokens: ['[CLS]'] },
        '[SEP]': { id: '[SEP]', ids: [sep], tokens: ['[SEP]'] },
      },
    },
    decoder: { type: 'WordPiece', prefix: PREFIX, cleanup: true },
    model: {
      type: 'WordPiece',
      unk_token: '[UNK]',
      continuing_subword_prefix: PREFIX,
      max_input_chars_per_word: 100,
      vocab: Object.fromEntries(vocab.map((t, i) => [t, i])),
    },
  };
}
