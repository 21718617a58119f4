import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { unlabelledText } from '../src/text/datasets.js';
import { hf } from '../src/text/hf.js';
import {
  longestFirstLengths,
  readTokenizerJson,
  TextTokenizer,
  trainWordPiece,
  writeTokenizerJson,
  type Encoded,
} from '../src/text/tokenizer.js';
import type { TokenizerJson } from '../src/text/tokenizer-json.js';
import { UserError } from '../src/util/errors.js';

const FIXTURES = join(import.meta.dirname, 'fixtures', 'tokenizer');
const tmp = mkdtempSync(join(tmpdir(), 'fedpft-tokenizer-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const arrays = (e: Encoded) => ({ ids: Array.from(e.inputIds), types: Array.from(e.tokenTypeIds), mask: Array.from(e.attentionMask) });
const ones = (n: number) => new Array<number>(n).fill(1);
const zeros = (n: number) => new Array<number>(n).fill(0);

// The fixture vocabulary (test/fixtures/tokenizer/wordpiece.json), by id:
//  0 [PAD]  1 [UNK]  2 [CLS]  3 [SEP]  4 [MASK]  5 the  6 cat  7 sat  8 on  9 mat  10 a  11 dog
// 12 play 13 ##ing 14 ##ed 15 ##s 16 un 17 ##believ 18 ##able 19 !  20 .  21 ,  22 ?  23 '
// 24 cafe 25 naive 26 is 27 it 28 fish 29 ##er 30 ##man 31 hello 32 world 33 s 34 run 35 ##n
// 36 very 37 good
describe('WordPiece tokenizer.json (bert-base-uncased layout)', () => {
  const wp = readTokenizerJson(join(FIXTURES, 'wordpiece.json'));

  it('reads the vocabulary and special tokens', () => {
    expect(wp.modelType).toBe('WordPiece');
    expect(wp.layout).toBe('bert');
    expect(wp.vocabSize).toBe(38);
    expect([wp.padId, wp.unkId, wp.maskId]).toEqual([0, 1, 4]);
    expect([...wp.specialIds].sort()).toEqual([0, 1, 2, 3, 4]);
  });

  it('encodes sentences as computed by hand', () => {
    // lowercase; punctuation split off
    expect(arrays(wp.encode('The cat sat on the mat.'))).toEqual({ ids: [2, 5, 6, 7, 8, 5, 9, 20, 3], types: zeros(9), mask: ones(9) });
    // greedy longest match with ## pieces; the apostrophe is punctuation
    expect(wp.ids("Unbelievable! The dog's playing.")).toEqual([16, 17, 18, 19, 5, 11, 23, 33, 12, 13, 20]);
    expect(wp.tokenize("Unbelievable! The dog's playing.")).toEqual(['un', '##believ', '##able', '!', 'the', 'dog', "'", 's', 'play', '##ing', '.']);
    // accents stripped after lowercasing
    expect(wp.ids('Café NAÏVE fisherman')).toEqual([24, 25, 28, 29, 30]);
    // a word with no complete segmentation is one [UNK], whatever pieces matched before
    expect(wp.ids('The zebra played well')).toEqual([5, 1, 12, 14, 1]);
    expect(wp.ids('cats catz running fishing')).toEqual([6, 15, 1, 34, 35, 13, 28, 13]);
    expect(wp.ids('hello,world?')).toEqual([31, 21, 32, 22]);
    expect(wp.decode([2, 5, 6, 7, 8, 5, 9, 20, 3])).toBe('the cat sat on the mat.');
  });

  it('lays out a pair as [CLS] a [SEP] b [SEP] with token types 0 then 1', () => {
    expect(arrays(wp.encode('The cat sat on the mat.', 'Is it a dog?'))).toEqual({
      ids: [2, 5, 6, 7, 8, 5, 9, 20, 3, 26, 27, 10, 11, 22, 3],
      types: [...zeros(9), ...ones(6)],
      mask: ones(15),
    });
  });

  it('truncates one text to maxLength, keeping [SEP]', () => {
    expect(arrays(wp.encode('The cat sat on the mat.', undefined, { maxLength: 5 }))).toEqual({ ids: [2, 5, 6, 7, 3], types: zeros(5), mask: ones(5) });
  });

  it('truncates pairs longest first', () => {
    // 7 + 5 tokens into 10 - 3 = 7: cutting the longer to 7 - 5 = 2 would leave it shorter than
    // the other, so both are cut: the shorter to floor(7/2) = 3, the longer to 4.
    expect(arrays(wp.encode('The cat sat on the mat.', 'Is it a dog?', { maxLength: 10 }))).toEqual({
      ids: [2, 5, 6, 7, 8, 3, 26, 27, 10, 3],
      types: [...zeros(6), ...ones(4)],
      mask: ones(10),
    });
    // 7 + 2 tokens into 11 - 3 = 8: only the longer (first) text loses one token.
    expect(Array.from(wp.encode('The cat sat on the mat.', 'hello!', { maxLength: 11 }).inputIds)).toEqual([2, 5, 6, 7, 8, 5, 9, 3, 31, 19, 3]);
    // ... and the same when the longer text is the second.
    const swapped = wp.encode('hello!', 'The cat sat on the mat.', { maxLength: 11 });
    expect(arrays(swapped)).toEqual({ ids: [2, 31, 19, 3, 5, 6, 7, 8, 5, 9, 3], types: [...zeros(4), ...ones(7)], mask: ones(11) });
    // 3 + 3 into 8 - 3 = 5: the first gets floor(5/2) = 2, the second 3.
    expect(Array.from(wp.encode('the cat sat', 'on the mat', { maxLength: 8 }).inputIds)).toEqual([2, 5, 6, 3, 8, 5, 9, 3]);
    expect(longestFirstLengths(7, 5, 7)).toEqual([4, 3]);
    expect(longestFirstLengths(5, 7, 7)).toEqual([3, 4]);
    expect(longestFirstLengths(7, 2, 8)).toEqual([6, 2]);
    expect(longestFirstLengths(3, 3, 5)).toEqual([2, 3]);
    expect(longestFirstLengths(20, 1, 6)).toEqual([5, 1]);
    expect(longestFirstLengths(2, 2, 9)).toEqual([2, 2]);
    // HF tokenizers' own table (tokenizers/src/utils/truncation.rs, truncate_encodings_longest_first):
    // max_length 7, encodings of 0 (empty), 2 (short), 4 (medium) and 8 (long) tokens.
    const table: [number, number, number, number][] = [
      [0, 0, 0, 0], [0, 2, 0, 2], [0, 4, 0, 4], [0, 8, 0, 7],
      [2, 0, 2, 0], [2, 2, 2, 2], [2, 4, 2, 4], [2, 8, 2, 5],
      [4, 0, 4, 0], [4, 2, 4, 2], [4, 4, 3, 4], [4, 8, 3, 4],
      [8, 0, 7, 0], [8, 2, 5, 2], [8, 4, 4, 3], [8, 8, 3, 4],
    ];
    for (const [n1, n2, e1, e2] of table) expect(longestFirstLengths(n1, n2, 7), `${n1} + ${n2}`).toEqual([e1, e2]);
  });

  // Long pairs: the pre-truncation tokenizes only a prefix of a long text, so its token count is
  // a lower bound; which text is longer must come from the full counts. 'a' is one token per two
  // characters, a 20-letter unknown word one [UNK] per 21, so a prefix of the same number of
  // characters holds ten times as many tokens of the first kind.
  const unknownWords = (n: number) => new Array<string>(n).fill('zzzzzzzzzzzzzzzzzzzz').join(' ');
  const as = (n: number) => new Array<string>(n).fill('a').join(' ');
  const fill = (n: number, id: number) => new Array<number>(n).fill(id);

  it('truncates a long pair longest first from the full token counts: 420 + 600 tokens at maxLength 128 keep 62 + 63', () => {
    const short = as(420);
    const long = unknownWords(600);
    expect([wp.ids(short).length, wp.ids(long).length]).toEqual([420, 600]);
    // n1 = 420 < n2 = 600: no swap, both are cut, the first keeps floor(125/2) = 62, the second 63.
    expect(arrays(wp.encode(short, long, { maxLength: 128 }))).toEqual({
      ids: [2, ...fill(62, 10), 3, ...fill(63, 1), 3],
      types: [...zeros(64), ...ones(64)],
      mask: ones(128),
    });
    // n1 = 600 > n2 = 420: swapped, the longer (first) text keeps 63.
    expect(Array.from(wp.encode(long, short, { maxLength: 128 }).inputIds)).toEqual([2, ...fill(63, 1), 3, ...fill(62, 10), 3]);
    // both texts too long to tokenize whole at first: 300 a's then 120 unknown words (420 tokens) against 600
    const mixed = `${as(300)} ${unknownWords(120)}`;
    expect(wp.ids(mixed)).toHaveLength(420);
    expect(Array.from(wp.encode(mixed, long, { maxLength: 128 }).inputIds)).toEqual([2, ...fill(62, 10), 3, ...fill(63, 1), 3]);
    expect(Array.from(wp.encode(long, mixed, { maxLength: 128 }).inputIds)).toEqual([2, ...fill(63, 1), 3, ...fill(62, 10), 3]);
    // equal full counts (500 + 500): no swap, the second keeps the extra token, whichever prefix is denser
    const mixed500 = `${as(250)} ${unknownWords(250)}`;
    expect(wp.ids(mixed500)).toHaveLength(500);
    expect(Array.from(wp.encode(mixed500, unknownWords(500), { maxLength: 128 }).inputIds)).toEqual([2, ...fill(62, 10), 3, ...fill(63, 1), 3]);
    expect(Array.from(wp.encode(unknownWords(500), mixed500, { maxLength: 128 }).inputIds)).toEqual([2, ...fill(62, 1), 3, ...fill(63, 10), 3]);
    // a short first text (10 tokens) against a long one: only the long one is cut, to 125 - 10
    expect(Array.from(wp.encode(as(10), unknownWords(600), { maxLength: 128 }).inputIds)).toEqual([2, ...fill(10, 10), 3, ...fill(115, 1), 3]);
  });

  it('cuts a long text before tokenizing only at whitespace the normalizer keeps, never inside a word it joins', () => {
    // The BERT normalizer deletes control and format characters (vertical tab, form feed, U+FEFF,
    // U+0085, U+200B, ...), U+0000 and U+FFFD, so "unbelievable<char>zzz..." is one word: more than
    // 100 characters, one [UNK]. A cut at the deleted character would give un ##believ ##able.
    const keep = 30;
    for (const ch of ['\v', '\f', '\uFEFF', '\u0085', '\u200B', '\u0000', '\uFFFD', '\u0007', '\u00AD']) {
      const text = `${as(keep - 1)} unbelievable${ch}${'z'.repeat(8 * keep + 64)} the cat sat`;
      const label = `U+${ch.charCodeAt(0).toString(16).padStart(4, '0')}`;
      const full = wp.ids(text);
      expect(full, label).toEqual([...fill(keep - 1, 10), 1, 5, 6, 7]);
      expect(Array.from(wp.encode(text, undefined, { maxLength: keep + 2 }).inputIds), label).toEqual([2, ...full.slice(0, keep), 3]);
      expect(Array.from(wp.encode(text, as(2), { maxLength: keep + 5 }).inputIds), label).toEqual([2, ...full.slice(0, keep), 3, 10, 10, 3]);
    }
    // An added token that holds a space may span any cut: such a tokenizer tokenizes long texts whole.
    const json = JSON.parse(readFileSync(join(FIXTURES, 'wordpiece.json'), 'utf8')) as TokenizerJson;
    const added = { id: 38, content: 'unbelievable z', special: false, single_word: false, lstrip: false, rstrip: false, normalized: true };
    const spaced = TextTokenizer.fromJson({ ...json, added_tokens: [...(json.added_tokens ?? []), added] });
    const text = `${as(keep - 1)} unbelievable ${'z'.repeat(8 * keep + 64)} the cat sat`;
    expect(spaced.ids(text).slice(0, keep + 1)).toEqual([...fill(keep - 1, 10), 38, 1]);
    expect(Array.from(spaced.encode(text, undefined, { maxLength: keep + 2 }).inputIds)).toEqual([2, ...fill(keep - 1, 10), 38, 3]);
  });

  it('a literal [PAD] in the text is a real token: the pad id with attention 1, as HF encodes it; only padding is masked', () => {
    const json = JSON.parse(readFileSync(join(FIXTURES, 'wordpiece.json'), 'utf8')) as TokenizerJson;
    const reference = new hf.Tokenizer(json, {}).encode('the [PAD] cat');
    expect(reference).toMatchObject({ ids: [2, 5, 0, 6, 3], attention_mask: ones(5) });
    expect(arrays(wp.encode('the [PAD] cat', undefined, { maxLength: 8, padding: 'max_length' }))).toEqual({
      ids: [2, 5, 0, 6, 3, 0, 0, 0],
      types: zeros(8),
      mask: [...ones(5), ...zeros(3)],
    });
    const batch = wp.encodeBatch(['[PAD]', 'the cat'], ['a [PAD]', '[PAD]'], { maxLength: 8 });
    expect(Array.from(batch.inputIds)).toEqual([2, 0, 3, 10, 0, 3, 0, 0, 2, 5, 6, 3, 0, 3, 0, 0]);
    expect(Array.from(batch.attentionMask)).toEqual([1, 1, 1, 1, 1, 1, 0, 0, 1, 1, 1, 1, 1, 1, 0, 0]);
  });

  it('pads to maxLength with [PAD] and a zero mask; without truncation it keeps everything', () => {
    expect(arrays(wp.encode('The cat sat on the mat.', undefined, { maxLength: 12, padding: 'max_length' }))).toEqual({
      ids: [2, 5, 6, 7, 8, 5, 9, 20, 3, 0, 0, 0],
      types: zeros(12),
      mask: [...ones(9), ...zeros(3)],
    });
    expect(wp.encode('The cat sat on the mat.', undefined, { maxLength: 5, truncation: false }).inputIds).toHaveLength(9);
    const batch = wp.encodeBatch(['the cat', 'a dog'], ['is it', 'good'], { maxLength: 8 });
    expect([batch.n, batch.length]).toEqual([2, 8]);
    expect(Array.from(batch.inputIds)).toEqual([2, 5, 6, 3, 26, 27, 3, 0, 2, 10, 11, 3, 37, 3, 0, 0]);
    expect(Array.from(batch.tokenTypeIds)).toEqual([0, 0, 0, 0, 1, 1, 1, 0, 0, 0, 0, 0, 1, 1, 0, 0]);
    expect(Array.from(batch.attentionMask)).toEqual([1, 1, 1, 1, 1, 1, 1, 0, 1, 1, 1, 1, 1, 1, 0, 0]);
    expect(() => wp.encode('the cat', 'a dog', { maxLength: 3 })).toThrow(UserError);
  });

  it('reads BertProcessing and a missing post-processor the same way', () => {
    const json = JSON.parse(readFileSync(join(FIXTURES, 'wordpiece.json'), 'utf8')) as TokenizerJson;
    const expected = arrays(wp.encode('the cat', 'a dog'));
    const bertProcessing = TextTokenizer.fromJson({ ...json, post_processor: { type: 'BertProcessing', sep: ['[SEP]', 3], cls: ['[CLS]', 2] } });
    const none = TextTokenizer.fromJson({ ...json, post_processor: null });
    expect(arrays(bertProcessing.encode('the cat', 'a dog'))).toEqual(expected);
    expect(arrays(none.encode('the cat', 'a dog'))).toEqual(expected);
  });
});

// test/fixtures/tokenizer/bpe.json, by id: 0 <s> 1 <pad> 2 </s> 3 <unk> 4 l 5 o 6 w 7 e 8 r 9 n
// 10 Ġ 11 er 12 lo 13 low 14 Ġn 15 ew 16 lower 17 Ġnew 18 <mask>;
// merges by rank: e r, l o, lo w, Ġ n, e w, low er, Ġn ew.
describe('byte-level BPE tokenizer.json (roberta-base layout)', () => {
  const bpe = readTokenizerJson(join(FIXTURES, 'bpe.json'));

  it('applies the merges by rank, as computed by hand', () => {
    expect(bpe.modelType).toBe('BPE');
    expect(bpe.layout).toBe('roberta');
    expect([bpe.padId, bpe.unkId, bpe.maskId]).toEqual([1, 3, 18]);
    // "lower": e r -> l o -> lo w -> low er = lower. " newer" = Ġnewer: e r -> Ġ n -> e w ->
    // Ġn ew = Ġnew, and no merge joins Ġnew and er.
    expect(bpe.tokenize('lower newer')).toEqual(['lower', 'Ġnew', 'er']);
    expect(arrays(bpe.encode('lower newer'))).toEqual({ ids: [0, 16, 17, 11, 2], types: zeros(5), mask: ones(5) });
    // two spaces: the first is a token of its own, the second starts " lower" (no Ġ+lower merge)
    expect(bpe.ids('lower  lower')).toEqual([16, 10, 10, 16]);
    expect(bpe.decode([0, 16, 17, 11, 2])).toBe('lower newer');
  });

  it('lays out a pair as <s> a </s></s> b </s> with all token types 0, truncates and pads', () => {
    // "newer" without a leading space: e r -> e w -> n ew er
    expect(arrays(bpe.encode('lower', 'newer'))).toEqual({ ids: [0, 16, 2, 2, 9, 15, 11, 2], types: zeros(8), mask: ones(8) });
    // 3 + 3 tokens into 8 - 4 = 4: 2 each
    expect(Array.from(bpe.encode('lower newer', 'newer', { maxLength: 8 }).inputIds)).toEqual([0, 16, 17, 2, 2, 9, 15, 2]);
    expect(arrays(bpe.encode('lower', undefined, { maxLength: 6, padding: 'max_length' }))).toEqual({
      ids: [0, 16, 2, 1, 1, 1],
      types: zeros(6),
      mask: [1, 1, 1, 0, 0, 0],
    });
    // a literal <pad> is the pad id, attended to
    expect(arrays(bpe.encode('<pad>lower', undefined, { maxLength: 6, padding: 'max_length' }))).toEqual({
      ids: [0, 1, 16, 2, 1, 1],
      types: zeros(6),
      mask: [1, 1, 1, 1, 0, 0],
    });
  });

  it('truncation of a long text gives the first tokens of the whole text, whatever the whitespace', () => {
    // words and separators drawn by a fixed linear congruential sequence; separators include ones
    // JavaScript's \s matches (vertical tab, form feed, U+00A0, U+FEFF) and ones it does not (U+0085)
    const words = ['lower', 'newer', 'low', 'new', 'er', 'r', '<pad>'];
    const seps = [' ', ' ', '  ', '\n', '\v', '\f', '\u00A0', '\uFEFF', '\u0085', '\t', ''];
    let seed = 12345;
    const next = (n: number) => {
      seed = (seed * 1103515245 + 12345) % 2147483648;
      return seed % n;
    };
    let text = '';
    for (let i = 0; i < 3000; i++) text += (words[next(words.length)] as string) + (seps[next(seps.length)] as string);
    const full = bpe.ids(text);
    for (const maxLength of [6, 17, 64, 200]) {
      expect(Array.from(bpe.encode(text, undefined, { maxLength }).inputIds), String(maxLength)).toEqual([0, ...full.slice(0, maxLength - 2), 2]);
    }
  });
});

describe('tokenizer.json errors', () => {
  const base = JSON.parse(readFileSync(join(FIXTURES, 'wordpiece.json'), 'utf8')) as TokenizerJson;
  const write = (name: string, content: string) => {
    const file = join(tmp, name);
    writeFileSync(file, content);
    return file;
  };

  it('refuses an unknown model type, naming the file', () => {
    const file = write('unigram.json', JSON.stringify({ ...base, model: { ...base.model, type: 'WordLevel' } }));
    expect(() => readTokenizerJson(file)).toThrow(UserError);
    expect(() => readTokenizerJson(file)).toThrow(new RegExp(`${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: model\\.type: .*WordLevel`));
  });

  it('refuses broken JSON, a missing file and an unknown post-processor', () => {
    expect(() => readTokenizerJson(write('broken.json', '{"model": '))).toThrow(/broken\.json: not valid JSON/);
    expect(() => readTokenizerJson(join(tmp, 'missing.json'))).toThrow(/missing\.json: cannot read/);
    const file = write('pp.json', JSON.stringify({ ...base, post_processor: { type: 'Weird' } }));
    expect(() => readTokenizerJson(file)).toThrow(/pp\.json: .*Weird/);
  });
});

/** The words of BERT uncased pre-tokenisation for plain ASCII text, computed independently. */
function asciiWords(text: string): string[] {
  return text.toLowerCase().match(/[a-z0-9]+|[^\sa-z0-9]/g) ?? [];
}

/** Greedy longest-match-first WordPiece, written independently of the library. */
function greedyWordPiece(vocab: Record<string, number>, word: string): number[] {
  const out: number[] = [];
  let start = 0;
  while (start < word.length) {
    let end = word.length;
    let found: number | undefined;
    for (; end > start; end--) {
      found = vocab[(start > 0 ? '##' : '') + word.slice(start, end)];
      if (found !== undefined) break;
    }
    if (found === undefined) return [vocab['[UNK]'] as number];
    out.push(found);
    start = end;
  }
  return out;
}

describe('trainWordPiece', () => {
  it('merges by pair frequency, ties by string order, as computed by hand', () => {
    // words ab x3, abc x1: pairs (a,##b) 4, (##b,##c) 1 -> "ab"; then (ab,##c) 1 -> "abc"
    const vocab = (json: TokenizerJson) => Object.entries(json.model.vocab as Record<string, number>).sort((x, y) => x[1] - y[1]).map(([t]) => t);
    const specials = ['[PAD]', '[UNK]', '[CLS]', '[SEP]', '[MASK]'];
    expect(vocab(trainWordPiece(['ab ab ab', 'abc'], { vocabSize: 20, minFrequency: 1 }))).toEqual([...specials, 'a', 'b', 'c', '##b', '##c', 'ab', 'abc']);
    // minFrequency 2 stops before the pair seen once
    expect(vocab(trainWordPiece(['ab ab ab', 'abc'], { vocabSize: 20, minFrequency: 2 }))).toEqual([...specials, 'a', 'b', 'c', '##b', '##c', 'ab']);
    // (x,##y) and (z,##w) both occur once: "xy" < "zw"; the vocabulary is full after one merge
    expect(vocab(trainWordPiece(['zw', 'xy'], { vocabSize: 12, minFrequency: 1 }))).toEqual([...specials, 'w', 'x', 'y', 'z', '##w', '##y', 'xy']);
    expect(() => trainWordPiece(['a'], { vocabSize: 10, specialTokens: ['[PAD]'] })).toThrow(UserError);
  });

  const corpus = unlabelledText('moby-dick').slice(0, 300);
  const json = trainWordPiece(corpus, { vocabSize: 600 });
  const vocab = json.model.vocab as Record<string, number>;

  it('is deterministic and independent of the order of the texts', () => {
    const again = trainWordPiece([...corpus].reverse(), { vocabSize: 600 });
    expect(JSON.stringify(again)).toBe(JSON.stringify(json));
  });

  it('holds the special tokens, the target size and the frequent words', () => {
    expect(Object.keys(vocab)).toHaveLength(600);
    expect(new Set(Object.values(vocab)).size).toBe(600);
    expect([vocab['[PAD]'], vocab['[UNK]'], vocab['[CLS]'], vocab['[SEP]'], vocab['[MASK]']]).toEqual([0, 1, 2, 3, 4]);
    const counts = new Map<string, number>();
    for (const text of corpus) for (const w of asciiWords(text)) counts.set(w, (counts.get(w) ?? 0) + 1);
    const frequent = [...counts].filter(([w]) => /^[a-z]+$/.test(w)).sort((x, y) => y[1] - x[1]).slice(0, 25).map(([w]) => w);
    expect(frequent).toContain('the');
    for (const w of frequent) expect(vocab, w).toHaveProperty(w);
  });

  it('round-trips: train -> write -> read -> encode', () => {
    const file = join(tmp, 'tokenizer.json');
    writeTokenizerJson(file, json);
    expect(JSON.parse(readFileSync(file, 'utf8'))).toEqual(json);
    const tok = readTokenizerJson(file);
    expect(tok.layout).toBe('bert');
    expect(tok.vocabSize).toBe(600);
    const sentences = ['Call me Ishmael.', 'The whale, the harpooneer and the Pequod sailed on!', 'Xylophones? Zebras; quixotic.'];
    for (const s of sentences) {
      const expected = asciiWords(s).flatMap((w) => greedyWordPiece(vocab, w));
      expect(Array.from(tok.encode(s).inputIds)).toEqual([2, ...expected, 3]);
    }
    const pair = tok.encode(sentences[0] as string, sentences[1], { maxLength: 16, padding: 'max_length' });
    expect(pair.inputIds).toHaveLength(16);
    expect(pair.inputIds[0]).toBe(2);
    expect(Array.from(pair.attentionMask).every((m) => m === 1)).toBe(true);
  });

  it('truncation of a long text gives the first tokens of the whole text', () => {
    const tok = TextTokenizer.fromJson(json);
    const long = corpus.slice(0, 60).join('\n\n');
    const full = tok.ids(long);
    expect(full.length).toBeGreaterThan(2000);
    for (const maxLength of [16, 128, 512]) {
      expect(Array.from(tok.encode(long, undefined, { maxLength }).inputIds)).toEqual([2, ...full.slice(0, maxLength - 2), 3]);
    }
  });

  // A fixed linear congruential sequence, for reproducible test texts.
  const lcg = (seed: number) => (n: number) => {
    seed = (seed * 1103515245 + 12345) % 2147483648;
    return seed % n;
  };

  it('truncation of a long text with characters the normalizer deletes gives the first tokens of the whole text', () => {
    const tok = TextTokenizer.fromJson(json);
    const next = lcg(7);
    const deleted = ['\v', '\f', '\uFEFF', '\u0000', '\uFFFD', '\u0085', '\u200B', '\u0001'];
    // the corpus with a deleted character put inside, or next to, one word in three
    const long = corpus
      .slice(0, 40)
      .join('\n')
      .replace(/\S+/g, (w) => {
        if (next(3) !== 0) return w;
        const at = next(w.length + 1);
        return w.slice(0, at) + (deleted[next(deleted.length)] as string) + w.slice(at);
      });
    const full = tok.ids(long);
    for (let maxLength = 8; maxLength <= 600; maxLength += 37) {
      expect(Array.from(tok.encode(long, undefined, { maxLength }).inputIds), String(maxLength)).toEqual([2, ...full.slice(0, maxLength - 2), 3]);
    }
  });

  it('truncates long pairs as HF does from the full encodings', () => {
    const tok = TextTokenizer.fromJson(json);
    const next = lcg(11);
    const text = () => {
      const start = next(corpus.length - 40);
      return corpus.slice(start, start + 1 + next(30)).join(' ');
    };
    for (let i = 0; i < 12; i++) {
      const [a, b] = [text(), text()];
      const [fa, fb] = [tok.ids(a), tok.ids(b)];
      for (const maxLength of [32, 128, 301]) {
        const [na, nb] = longestFirstLengths(fa.length, fb.length, maxLength - 3);
        expect(Array.from(tok.encode(a, b, { maxLength }).inputIds), `${i}: ${fa.length} + ${fb.length} at ${maxLength}`).toEqual([
          2,
          ...fa.slice(0, na),
          3,
          ...fb.slice(0, nb),
          3,
        ]);
      }
    }
  });
});
