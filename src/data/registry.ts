import { loadCifarBinary, loadGlueTsv, loadTextTask, textPrefix, unlabelledText, type GlueTask } from '../text/datasets.js';
import { encodeTextSet, type TextEncoding } from '../text/encode-set.js';
import { UserError } from '../util/errors.js';
import { prefix, type LabelledExamples, type LabelledTexts, type TaskData } from './dataset.js';
import { loadImageDataset } from './image-datasets.js';
import {
  CIFAR_DATASET_NAMES,
  DATASET_NAMES,
  DISTILL_CORPUS_NAMES,
  DISTILL_DATASET_NAMES,
  GLUE_DATASET_NAMES,
  TEXT_TASK_NAMES,
  type CifarDatasetName,
  type DatasetName,
  type DistillDatasetName,
  type GlueDatasetName,
  type ImageDatasetName,
  type TextTaskName,
} from './names.js';

/** The user's files for glue-* and cifar* datasets (paths as given; loaders name them in errors). */
export interface TaskFiles {
  train: string | string[];
  validation: string;
}

export interface LoadOptions {
  /** At most this many training examples (a class-balanced prefix of the fixed train order). */
  trainLimit?: number;
  /** At most this many validation examples (a class-balanced prefix). */
  evalLimit?: number;
  /** Text tasks: the FM's tokenizer and the padded length. */
  text?: TextEncoding;
  /** glue-* and cifar* datasets. */
  files?: TaskFiles;
}

function checkName<T extends string>(name: string, names: readonly T[]): T {
  if (!(names as readonly string[]).includes(name)) {
    throw new UserError('dataset', 'name', `unknown dataset "${name}"; expected one of ${names.join(', ')}`);
  }
  return name as T;
}

function checkLimit(field: string, limit: number | undefined): number {
  if (limit === undefined) return Infinity;
  if (!Number.isInteger(limit) || limit < 1) throw new UserError('dataset', field, `expected a positive integer, got ${limit}`);
  return limit;
}

function needText(name: string, opts: LoadOptions): TextEncoding {
  if (!opts.text) throw new UserError('dataset', 'name', `"${name}" is a text dataset; it needs a text FM (bert or roberta with a tokenizer)`);
  return opts.text;
}

function needFiles(name: string, opts: LoadOptions): TaskFiles {
  if (!opts.files) throw new UserError('dataset', 'files', `"${name}" is read from your files; give task.files.train and task.files.validation`);
  return opts.files;
}

const is = <T extends string>(names: readonly T[], name: string): name is T => (names as readonly string[]).includes(name);

/** Labelled texts of a built-in text task or of GLUE files, cut to the limits. */
function textSplits(name: TextTaskName | GlueDatasetName, opts: LoadOptions): { train: LabelledTexts; validation: LabelledTexts } {
  if (is(TEXT_TASK_NAMES, name)) return loadTextTask(name, { trainLimit: opts.trainLimit, evalLimit: opts.evalLimit });
  const files = needFiles(name, opts);
  const task = name.slice('glue-'.length) as GlueTask;
  if (Array.isArray(files.train) && files.train.length !== 1) throw new UserError('dataset', 'files.train', 'GLUE takes one train.tsv');
  const trainFile = Array.isArray(files.train) ? (files.train[0] as string) : files.train;
  return {
    train: textPrefix(loadGlueTsv(trainFile, task), checkLimit('trainLimit', opts.trainLimit)),
    validation: textPrefix(loadGlueTsv(files.validation, task), checkLimit('evalLimit', opts.evalLimit)),
  };
}

/** CIFAR binary batches: the train files concatenated in the order given. */
function cifarSplits(name: CifarDatasetName, opts: LoadOptions): TaskData {
  const files = needFiles(name, opts);
  const parts = (Array.isArray(files.train) ? files.train : [files.train]).map((f) => loadCifarBinary(f, name));
  const first = parts[0] as LabelledExamples;
  const n = parts.reduce((s, p) => s + p.n, 0);
  const features = new Float32Array(n * first.featureSize);
  const labels = new Int32Array(n);
  let at = 0;
  for (const p of parts) {
    features.set(p.features, at * first.featureSize);
    labels.set(p.labels, at);
    at += p.n;
  }
  const train: LabelledExamples = { ...first, name, features, labels, n };
  const validation = loadCifarBinary(files.validation, name);
  return { train: prefix(train, checkLimit('trainLimit', opts.trainLimit)), validation: prefix({ ...validation, name }, checkLimit('evalLimit', opts.evalLimit)) };
}

/**
 * The dataset's fixed train/validation split (see image-datasets.ts and text/datasets.ts) or the
 * user's files, cut to the limits; text is tokenized with `opts.text`. A limit above the split's
 * size keeps the whole split; callers read the actual size from `n`.
 */
export function loadTask(name: DatasetName, opts: LoadOptions = {}): TaskData {
  const trainLimit = checkLimit('trainLimit', opts.trainLimit);
  const evalLimit = checkLimit('evalLimit', opts.evalLimit);
  checkName(name, DATASET_NAMES);
  if (is(TEXT_TASK_NAMES, name) || is(GLUE_DATASET_NAMES, name)) {
    const text = needText(name, opts);
    const data = textSplits(name, opts);
    return { train: encodeTextSet(data.train, text), validation: encodeTextSet(data.validation, text) };
  }
  if (is(CIFAR_DATASET_NAMES, name)) return cifarSplits(name, opts);
  const data = loadImageDataset(name as ImageDatasetName);
  return { train: prefix(data.train, trainLimit), validation: prefix(data.validation, evalLimit) };
}

/**
 * Examples for distillation: a task's training split, or (text FMs) paragraphs of an unlabelled
 * corpus in corpus order, labelled 0.
 */
export function loadDistillData(name: DistillDatasetName, opts: LoadOptions = {}): LabelledExamples {
  checkName(name, DISTILL_DATASET_NAMES);
  if (!is(DISTILL_CORPUS_NAMES, name)) return loadTask(name, opts).train;
  const limit = checkLimit('trainLimit', opts.trainLimit);
  const texts = unlabelledText(name);
  const set: LabelledTexts = { name, texts, labels: new Int32Array(texts.length), numClasses: 1, classNames: ['text'] };
  return encodeTextSet(textPrefix(set, limit), needText(name, opts));
}

/** The training labels alone (what partitioning needs), without tokenizing text. */
export function loadTrainLabels(name: DatasetName, opts: Pick<LoadOptions, 'trainLimit' | 'files'> = {}): Pick<LabelledExamples, 'labels' | 'numClasses' | 'classNames' | 'n'> {
  checkName(name, DATASET_NAMES);
  if (is(TEXT_TASK_NAMES, name) || is(GLUE_DATASET_NAMES, name)) {
    const { train } = textSplits(name, opts);
    return { labels: train.labels, numClasses: train.numClasses, classNames: train.classNames, n: train.labels.length };
  }
  return loadTask(name, opts).train;
}
