/**
 * HuggingFace tokenizer.json files, read offline. `@huggingface/tokenizers` (pure JS) does the
 * normalizer, pre-tokenizer and model (WordPiece as in bert-base-uncased, byte-level BPE as in
 * roberta-base); this module adds what models need on top: the special-token layout for one text
 * or a pair, longest-first truncation, padding, and fixed-size batches.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { UserError } from '../util/errors.js';
import { hf, type HfTokenizer } from './hf.js';
import type { PostProcessorJson, TokenizerJson } from './tokenizer-json.js';
import { wordPieceJson } from './wordpiece-trainer.js';

export interface EncodeOptions {
  /** Length cap (with padding 'max_length', also the padded length). Default 512. */
  maxLength?: number;
  /** 'max_length' pads on the right to maxLength; 'none' (default) leaves the length as is. */
  padding?: 'max_length' | 'none';
  /** Cut to maxLength, longest first for pairs (default true). */
  truncation?: boolean;
}

export interface Encoded {
  inputIds: Int32Array;
  /** Segment ids: 0 for the first text, 1 for the second in the BERT layout; all 0 for RoBERTa. */
  tokenTypeIds: Int32Array;
  /** 1 for real tokens, 0 for padding. */
  attentionMask: Int32Array;
}

/** n encodings of one length, row-major [n, length]. */
export interface EncodedBatch extends Encoded {
  n: number;
  length: number;
}

/** One piece of a layout: special token ids, or one of the two texts, with its token type. */
type LayoutItem = { special: number[]; typeId: number } | { sequence: 0 | 1; typeId: number };

interface Layout {
  kind: 'bert' | 'roberta' | 'template';
  single: LayoutItem[];
  pair: LayoutItem[];
}

const DEFAULT_MAX_LENGTH = 512;

function isObject(x: unknown): x is Record<string, unknown> {
  return typeof x === 'object' && x !== null && !Array.isArray(x);
}

function specialCount(items: LayoutItem[]): number {
  return items.reduce((n, it) => n + ('special' in it ? it.special.length : 0), 0);
}

/**
 * How many tokens of each text survive longest-first truncation to `budget` tokens in all, as the
 * HF tokenizers library (Rust) computes it: if cutting the longer text down to budget - shorter
 * suffices, only the longer is cut; otherwise the shorter keeps floor(budget/2) and the longer
 * ceil(budget/2) (for equal lengths the first text counts as the shorter).
 */
export function longestFirstLengths(a: number, b: number, budget: number): [number, number] {
  if (a + b <= budget) return [a, b];
  const swap = a > b;
  let short = swap ? b : a;
  let long = swap ? a : b;
  long = short > budget ? short : Math.max(short, budget - short);
  if (short + long > budget) {
    short = Math.floor(budget / 2);
    long = short + (budget % 2);
  }
  return swap ? [long, short] : [short, long];
}

/**
 * Ids of a text, or of a prefix of it: then `ids` holds the first tokens of the whole text (a
 * lower bound on its count), `whole` is false, and the prefix was cut before character `chars`.
 */
interface Prefix {
  ids: number[];
  whole: boolean;
  chars: number;
}

/** Pre-tokenizers that split at whitespace and look at nothing across it. */
const SPLITTING_PRE_TOKENIZERS = new Set(['BertPreTokenizer', 'Whitespace', 'WhitespaceSplit', 'ByteLevel']);
/** Pre-tokenizers that may run beside a splitting one in a Sequence (their boundaries are local). */
const LOCAL_PRE_TOKENIZERS = new Set([...SPLITTING_PRE_TOKENIZERS, 'Punctuation', 'Digits']);
/** Normalizers that work character by character and keep space, tab, newline and carriage return. */
const LOCAL_NORMALIZERS = new Set(['BertNormalizer', 'Lowercase', 'NFC', 'NFD', 'NFKC', 'NFKD', 'StripAccents', 'Strip', 'Prepend']);
/** Of those, the ones that delete no character (for byte-level BPE, which sees whitespace). */
const KEEPING_NORMALIZERS = new Set(['Lowercase', 'NFC', 'NFD', 'NFKC', 'NFKD', 'Prepend']);

/**
 * The types in a normalizer or pre-tokenizer, Sequences flattened (a ByteLevel pre-tokenizer
 * without its regex, which splits nothing, as 'ByteLevel/no-regex'); undefined for a malformed one.
 */
function componentTypes(x: unknown, listKey: string): string[] | undefined {
  if (x === null || x === undefined) return [];
  if (!isObject(x) || typeof x.type !== 'string') return undefined;
  if (x.type === 'ByteLevel' && x.use_regex === false) return ['ByteLevel/no-regex'];
  if (x.type !== 'Sequence') return [x.type];
  const list = x[listKey];
  if (!Array.isArray(list)) return undefined;
  const out: string[] = [];
  for (const item of list) {
    const inner = componentTypes(item, listKey);
    if (inner === undefined) return undefined;
    out.push(...inner);
  }
  return out;
}

/**
 * Whether a long text may be tokenized from a prefix cut at whitespace (see prefixCut): the
 * pre-tokenizer splits at whitespace, the normalizer keeps space, tab, newline and carriage
 * return and joins nothing across them (and deletes nothing where byte-level BPE sees
 * whitespace), and no added token holds whitespace (one could span the cut). Other tokenizers
 * tokenize long texts whole.
 */
function prefixCutSafe(json: TokenizerJson, addedTokens: ReadonlyArray<{ content: unknown }>): boolean {
  const pre = componentTypes(json.pre_tokenizer, 'pretokenizers');
  const norm = componentTypes(json.normalizer, 'normalizers');
  if (pre === undefined || norm === undefined) return false;
  if (!pre.every((t) => LOCAL_PRE_TOKENIZERS.has(t)) || !pre.some((t) => SPLITTING_PRE_TOKENIZERS.has(t))) return false;
  const allowed = pre.includes('ByteLevel') ? KEEPING_NORMALIZERS : LOCAL_NORMALIZERS;
  if (!norm.every((t) => allowed.has(t))) return false;
  return addedTokens.every((t) => typeof t.content === 'string' && t.content.length > 0 && !/\s/.test(t.content));
}

/**
 * Where to cut `text` before `limit` so that the prefix's tokens are the first tokens of the
 * whole text; 0 for nowhere. The cut is the start of a whitespace run that holds a space, tab,
 * newline or carriage return: normalizers keep those (the BERT normalizer deletes vertical tab,
 * form feed, U+FEFF and other control and format characters, so a run of only those may join two
 * words), so the whole text has a word boundary there. The prefix ends on a character that is not
 * whitespace (byte-level BPE makes a trailing whitespace run one token of its own).
 */
function prefixCut(text: string, limit: number): number {
  for (let q = Math.min(limit, text.length) - 1; q > 0; q--) {
    const c = text.charCodeAt(q);
    if (c !== 0x20 && c !== 0x09 && c !== 0x0a && c !== 0x0d) continue;
    let p = q;
    while (p > 0 && /\s/.test(text.charAt(p - 1))) p--;
    return p;
  }
  return 0;
}

export class TextTokenizer {
  /** The file (or label) the tokenizer came from, for messages. */
  readonly source: string;
  readonly modelType: 'WordPiece' | 'BPE';
  /** Which special-token layout encode() uses. */
  readonly layout: 'bert' | 'roberta' | 'template';
  readonly vocabSize: number;
  readonly padId: number | undefined;
  readonly unkId: number | undefined;
  readonly maskId: number | undefined;
  /** Ids of the added tokens marked special ([CLS], <s>, ...). */
  readonly specialIds: ReadonlySet<number>;
  private readonly hf: HfTokenizer;
  private readonly spec: Layout;
  /** Whether long texts may be tokenized from a prefix (see prefixCutSafe). */
  private readonly prefixSafe: boolean;

  private constructor(json: TokenizerJson, source: string) {
    this.source = source;
    if (!isObject(json)) throw new UserError(source, '', 'expected a tokenizer.json object');
    if (!isObject(json.model)) throw new UserError(source, 'model', 'expected an object with a "type"');
    const type = json.model.type;
    if (type !== 'WordPiece' && type !== 'BPE') {
      throw new UserError(source, 'model.type', `unsupported tokenizer model type ${JSON.stringify(type)}; expected "WordPiece" or "BPE"`);
    }
    this.modelType = type;
    const full = {
      normalizer: null,
      pre_tokenizer: null,
      post_processor: null,
      decoder: null,
      ...json,
      added_tokens: Array.isArray(json.added_tokens) ? json.added_tokens : [],
    };
    try {
      this.hf = new hf.Tokenizer(full, {});
    } catch (err) {
      throw new UserError(source, '', `cannot build the tokenizer: ${(err as Error).message}`);
    }
    let maxId = -1;
    for (const v of this.hf.get_vocab(true).values()) maxId = Math.max(maxId, v);
    this.vocabSize = maxId + 1;
    const id = (...tokens: string[]): number | undefined => {
      for (const t of tokens) {
        const found = this.hf.token_to_id(t);
        if (found !== undefined) return found;
      }
      return undefined;
    };
    this.padId = json.padding?.pad_id ?? (json.padding?.pad_token !== undefined ? id(json.padding.pad_token) : undefined) ?? id('[PAD]', '<pad>');
    const unkToken = typeof json.model.unk_token === 'string' ? json.model.unk_token : undefined;
    this.unkId = (unkToken !== undefined ? id(unkToken) : undefined) ?? id('[UNK]', '<unk>');
    this.maskId = id('[MASK]', '<mask>');
    this.specialIds = new Set(full.added_tokens.filter((t) => t.special).map((t) => t.id));
    this.spec = this.parseLayout(full.post_processor, id);
    this.prefixSafe = prefixCutSafe(full, full.added_tokens);
    this.layout = this.spec.kind;
  }

  /** Reads a tokenizer.json; any problem is a UserError naming the file. */
  static fromFile(file: string): TextTokenizer {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch (err) {
      throw new UserError(file, '', `cannot read the file (${(err as NodeJS.ErrnoException).code ?? String(err)})`);
    }
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch (err) {
      throw new UserError(file, '', `not valid JSON (${(err as Error).message})`);
    }
    return new TextTokenizer(json as TokenizerJson, file);
  }

  static fromJson(json: TokenizerJson, source = 'tokenizer.json'): TextTokenizer {
    return new TextTokenizer(json, source);
  }

  private parseLayout(pp: PostProcessorJson | null, id: (...t: string[]) => number | undefined): Layout {
    const need = (tokens: string[], field: string): number => {
      const found = id(...tokens);
      if (found === undefined) throw new UserError(this.source, field, `the vocabulary has no ${tokens.join(' or ')} token`);
      return found;
    };
    const pairOf = (x: unknown, field: string): number => {
      if (Array.isArray(x) && typeof x[1] === 'number') return x[1];
      throw new UserError(this.source, field, 'expected [token, id]');
    };
    const bert = (cls: number, sep: number): Layout => ({
      kind: 'bert',
      single: [{ special: [cls], typeId: 0 }, { sequence: 0, typeId: 0 }, { special: [sep], typeId: 0 }],
      pair: [
        { special: [cls], typeId: 0 },
        { sequence: 0, typeId: 0 },
        { special: [sep], typeId: 0 },
        { sequence: 1, typeId: 1 },
        { special: [sep], typeId: 1 },
      ],
    });
    // RoBERTa has one token type (type_vocab_size 1): every token type id is 0.
    const roberta = (cls: number, sep: number): Layout => ({
      kind: 'roberta',
      single: [{ special: [cls], typeId: 0 }, { sequence: 0, typeId: 0 }, { special: [sep], typeId: 0 }],
      pair: [
        { special: [cls], typeId: 0 },
        { sequence: 0, typeId: 0 },
        { special: [sep, sep], typeId: 0 },
        { sequence: 1, typeId: 0 },
        { special: [sep], typeId: 0 },
      ],
    });
    if (pp === null || pp === undefined) {
      return this.modelType === 'WordPiece'
        ? bert(need(['[CLS]'], 'post_processor'), need(['[SEP]'], 'post_processor'))
        : roberta(need(['<s>'], 'post_processor'), need(['</s>'], 'post_processor'));
    }
    if (!isObject(pp)) throw new UserError(this.source, 'post_processor', 'expected an object or null');
    switch (pp.type) {
      case 'BertProcessing':
        return bert(pairOf(pp.cls, 'post_processor.cls'), pairOf(pp.sep, 'post_processor.sep'));
      case 'RobertaProcessing':
        return roberta(pairOf(pp.cls, 'post_processor.cls'), pairOf(pp.sep, 'post_processor.sep'));
      case 'TemplateProcessing':
        return this.parseTemplate(pp);
      case 'Sequence': {
        const inner = (Array.isArray(pp.processors) ? pp.processors : []).filter((p: unknown) => isObject(p) && p.type !== 'ByteLevel');
        if (inner.length > 1) throw new UserError(this.source, 'post_processor.processors', 'expected at most one processor besides ByteLevel');
        return this.parseLayout((inner[0] as PostProcessorJson | undefined) ?? null, id);
      }
      case 'ByteLevel':
        return this.parseLayout(null, id);
      default:
        throw new UserError(
          this.source,
          'post_processor.type',
          `unsupported ${JSON.stringify(pp.type)}; expected BertProcessing, RobertaProcessing, TemplateProcessing, Sequence or ByteLevel`,
        );
    }
  }

  /** TemplateProcessing: `single`/`pair` lists of {SpecialToken: {id, type_id}} and {Sequence: {id: 'A'|'B', type_id}}. */
  private parseTemplate(pp: PostProcessorJson): Layout {
    const specials = isObject(pp.special_tokens) ? pp.special_tokens : {};
    const items = (template: unknown, field: string): LayoutItem[] => {
      if (!Array.isArray(template)) throw new UserError(this.source, `post_processor.${field}`, 'expected a list');
      return template.map((piece: unknown, i): LayoutItem => {
        const where = `post_processor.${field}[${i}]`;
        if (isObject(piece) && isObject(piece.SpecialToken)) {
          const name = piece.SpecialToken.id;
          const entry = typeof name === 'string' ? specials[name] : undefined;
          const ids = isObject(entry) && Array.isArray(entry.ids) ? (entry.ids as unknown[]) : undefined;
          if (!ids || !ids.every((x) => Number.isInteger(x))) {
            throw new UserError(this.source, where, `special token ${JSON.stringify(name)} is not in post_processor.special_tokens`);
          }
          return { special: ids as number[], typeId: Number(piece.SpecialToken.type_id ?? 0) };
        }
        if (isObject(piece) && isObject(piece.Sequence)) {
          const seq = piece.Sequence.id;
          if (seq !== 'A' && seq !== 'B') throw new UserError(this.source, where, 'Sequence id must be "A" or "B"');
          return { sequence: seq === 'A' ? 0 : 1, typeId: Number(piece.Sequence.type_id ?? 0) };
        }
        throw new UserError(this.source, where, 'expected {SpecialToken: ...} or {Sequence: ...}');
      });
    };
    const single = items(pp.single, 'single');
    const pair = items(pp.pair, 'pair');
    const names = new Set(Object.keys(specials));
    const kind = names.has('[CLS]') && names.has('[SEP]') ? 'bert' : names.has('<s>') && names.has('</s>') ? 'roberta' : 'template';
    return { kind, single, pair };
  }

  /** Token strings of one text, without special tokens. */
  tokenize(text: string): string[] {
    return this.hf.tokenize(text, { add_special_tokens: false });
  }

  /** Token ids of one text, without special tokens (a BPE token outside the vocabulary is dropped, as HF does without an unk token). */
  ids(text: string): number[] {
    return this.hf.encode(text, { add_special_tokens: false }).ids.filter((x) => x !== undefined);
  }

  /**
   * The ids of more than the first `keep` tokens of `text`, or of all of it. Long texts are
   * tokenized from a prefix cut at whitespace before `chars` characters (see prefixCut), doubled
   * until the prefix holds enough; its tokens are the first tokens of the whole text. The whole
   * text is used when the prefix falls short.
   */
  private idsUpTo(text: string, keep: number, chars = 8 * keep + 64): Prefix {
    if (this.prefixSafe) {
      for (; chars < text.length; chars *= 2) {
        const cut = prefixCut(text, chars);
        if (cut <= 0) continue;
        const ids = this.ids(text.slice(0, cut));
        if (ids.length > keep) return { ids, whole: false, chars };
      }
    }
    return { ids: this.ids(text), whole: true, chars: text.length };
  }

  /**
   * Both texts of a pair, each tokenized far enough for longest-first truncation to `budget`: the
   * split depends on which text has more tokens in all (HF compares the full counts; for equal
   * counts the first counts as the shorter) and on the shorter's count. A prefix count is only a
   * lower bound, so prefixes grow until the comparison is settled: both texts whole, or one whole
   * and the other's prefix already beyond it in the right direction. Then the counts in hand
   * order the texts as the full counts do, and the shorter one's is exact. (When both hold more
   * than half the budget and it is even, each keeps half and the order does not matter.) For two
   * long texts and an odd budget (BERT's three special tokens and an even maxLength) that means
   * tokenizing at least the shorter one whole. Each extension at
   * least doubles the prefix's characters, so the work stays within a few times that of
   * tokenizing what is needed.
   */
  private pairIdsUpTo(text: string, pair: string, budget: number): [number[], number[]] {
    let a = this.idsUpTo(text, budget);
    let b = this.idsUpTo(pair, budget);
    for (;;) {
      const na = a.ids.length;
      const nb = b.ids.length;
      // a whole: a is the shorter (no swap) once b's prefix has at least as many tokens.
      if (a.whole && (b.whole || nb >= na)) break;
      // b whole: a is the longer (swap) once a's prefix has more tokens.
      if (b.whole && na > nb) break;
      // Both hold more than half an even budget: both keep half, whichever is longer.
      if (budget % 2 === 0 && 2 * Math.min(na, nb) > budget) break;
      if (!a.whole && (b.whole || na <= nb)) a = this.idsUpTo(text, na, 2 * a.chars);
      else b = this.idsUpTo(pair, nb, 2 * b.chars);
    }
    return [a.ids, b.ids];
  }

  /** Special tokens added around one text, or a pair. */
  numSpecialTokens(pair: boolean): number {
    return specialCount(pair ? this.spec.pair : this.spec.single);
  }

  /**
   * One text (or a pair) laid out with the model's special tokens: BERT `[CLS] a [SEP] b [SEP]`
   * with token types 0 for `[CLS] a [SEP]` and 1 for `b [SEP]`; RoBERTa `<s> a </s></s> b </s>`
   * with all token types 0; a TemplateProcessing post-processor as its template says.
   */
  encode(text: string, pair?: string, opts: EncodeOptions = {}): Encoded {
    const maxLength = opts.maxLength ?? DEFAULT_MAX_LENGTH;
    const truncation = opts.truncation ?? true;
    const padding = opts.padding ?? 'none';
    const template = pair === undefined ? this.spec.single : this.spec.pair;
    const specials = specialCount(template);
    if (!Number.isInteger(maxLength) || maxLength <= specials) {
      throw new UserError('tokenizer', 'maxLength', `expected an integer above ${specials} (the special tokens), got ${maxLength}`);
    }
    const budget = maxLength - specials;
    let a: number[];
    let b: number[] = [];
    if (!truncation) {
      a = this.ids(text);
      if (pair !== undefined) b = this.ids(pair);
    } else if (pair === undefined) {
      a = this.idsUpTo(text, budget).ids.slice(0, budget);
    } else {
      [a, b] = this.pairIdsUpTo(text, pair, budget);
      const [na, nb] = longestFirstLengths(a.length, b.length, budget);
      a = a.slice(0, na);
      b = b.slice(0, nb);
    }
    const ids: number[] = [];
    const types: number[] = [];
    for (const item of template) {
      const part = 'special' in item ? item.special : item.sequence === 0 ? a : b;
      for (const x of part) {
        ids.push(x);
        types.push(item.typeId);
      }
    }
    const length = padding === 'max_length' ? Math.max(maxLength, ids.length) : ids.length;
    const inputIds = new Int32Array(length);
    const tokenTypeIds = new Int32Array(length);
    const attentionMask = new Int32Array(length);
    inputIds.set(ids);
    tokenTypeIds.set(types);
    attentionMask.fill(1, 0, ids.length);
    if (length > ids.length) {
      if (this.padId === undefined) throw new UserError(this.source, 'padding', 'no pad token ([PAD] or <pad>) to pad with');
      inputIds.fill(this.padId, ids.length);
    }
    return { inputIds, tokenTypeIds, attentionMask };
  }

  /** Many texts (or pairs) truncated and padded to maxLength, as one [n, maxLength] block. */
  encodeBatch(texts: readonly string[], pairs: readonly string[] | undefined, opts: { maxLength: number }): EncodedBatch {
    if (pairs && pairs.length !== texts.length) throw new RangeError(`${texts.length} texts but ${pairs.length} pairs`);
    const length = opts.maxLength;
    const n = texts.length;
    const out = { n, length, inputIds: new Int32Array(n * length), tokenTypeIds: new Int32Array(n * length), attentionMask: new Int32Array(n * length) };
    texts.forEach((t, i) => {
      const e = this.encode(t, pairs?.[i], { maxLength: length, padding: 'max_length', truncation: true });
      out.inputIds.set(e.inputIds, i * length);
      out.tokenTypeIds.set(e.tokenTypeIds, i * length);
      out.attentionMask.set(e.attentionMask, i * length);
    });
    return out;
  }

  decode(ids: ArrayLike<number>, skipSpecialTokens = true): string {
    const list = Array.from(ids);
    return list.length === 0 ? '' : this.hf.decode(list, { skip_special_tokens: skipSpecialTokens });
  }

  tokenToId(token: string): number | undefined {
    return this.hf.token_to_id(token);
  }

  idToToken(id: number): string | undefined {
    return this.hf.id_to_token(id);
  }
}

/** Reads a HF tokenizer.json (see TextTokenizer). */
export function readTokenizerJson(file: string): TextTokenizer {
  return TextTokenizer.fromFile(file);
}

/** Writes a tokenizer.json object as HF does (pretty-printed UTF-8 JSON), readable by readTokenizerJson and HF. */
export function writeTokenizerJson(file: string, json: TokenizerJson): void {
  writeFileSync(file, `${JSON.stringify(json, null, 2)}\n`, 'utf8');
}

export { trainWordPiece, type WordPieceTrainOptions } from './wordpiece-trainer.js';

const VOCAB_TXT_SPECIALS = ['[PAD]', '[UNK]', '[CLS]', '[SEP]', '[MASK]'];

/**
 * A BERT WordPiece tokenizer from a vocab.txt (one token per line, the line number is the id),
 * as older checkpoints ship it instead of tokenizer.json.
 */
export function readVocabTxt(file: string, lowercase = true): TextTokenizer {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new UserError(file, '', (err as NodeJS.ErrnoException).code === 'ENOENT' ? 'file not found' : `cannot read (${(err as Error).message})`);
  }
  const vocab = text.split(/\r?\n/);
  if (vocab[vocab.length - 1] === '') vocab.pop();
  if (new Set(vocab).size !== vocab.length) throw new UserError(file, '', 'a token appears on two lines');
  const specials = VOCAB_TXT_SPECIALS.filter((t) => vocab.includes(t));
  for (const t of ['[UNK]', '[CLS]', '[SEP]']) if (!specials.includes(t)) throw new UserError(file, '', `no ${t} line; not a BERT vocabulary`);
  return TextTokenizer.fromJson(wordPieceJson(vocab, specials, lowercase), file);
}
