import { loadTextTask, textPrefix, unlabelledText, type LabelledTexts } from '../text/datasets.js';
import { encodeTextSet, type TextEncoding } from '../text/encode-set.js';
import { UserError } from '../util/errors.js';
import { prefix, type LabelledExamples, type TaskData } from './dataset.js';
import { loadImageDataset } from './image-datasets.js';
import { DATASET_NAMES, DISTILL_CORPUS_NAMES, DISTILL_DATASET_NAMES, isTextTask, type DatasetName, type DistillDatasetName, type ImageDatasetName } from './names.js';

export interface LoadOptions {
  /** At most this many training examples (a class-balanced prefix of the fixed train order). */
  trainLimit?: number;
  /** At most this many validation examples (a class-balanced prefix). */
  evalLimit?: number;
  /** Text tasks: the FM's tokenizer and the padded length. */
  text?: TextEncoding;
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

/**
 * The dataset's fixed train/validation split (see image-datasets.ts and text/datasets.ts), cut
 * to the limits; text is tokenized with `opts.text`. A limit above the split's size keeps the
 * whole split; callers read the actual size from `n`.
 */
export function loadTask(name: DatasetName, opts: LoadOptions = {}): TaskData {
  const trainLimit = checkLimit('trainLimit', opts.trainLimit);
  const evalLimit = checkLimit('evalLimit', opts.evalLimit);
  checkName(name, DATASET_NAMES);
  if (isTextTask(name)) {
    const text = needText(name, opts);
    const data = loadTextTask(name, { trainLimit: opts.trainLimit, evalLimit: opts.evalLimit });
    return { train: encodeTextSet(data.train, text), validation: encodeTextSet(data.validation, text) };
  }
  const data = loadImageDataset(name as ImageDatasetName);
  return { train: prefix(data.train, trainLimit), validation: prefix(data.validation, evalLimit) };
}

/**
 * Examples for distillation: a task's training split, or (text FMs) paragraphs of an unlabelled
 * corpus in corpus order, labelled 0.
 */
export function loadDistillData(name: DistillDatasetName, opts: LoadOptions = {}): LabelledExamples {
  checkName(name, DISTILL_DATASET_NAMES);
  if (!(DISTILL_CORPUS_NAMES as readonly string[]).includes(name)) return loadTask(name as DatasetName, opts).train;
  const limit = checkLimit('trainLimit', opts.trainLimit);
  const texts = unlabelledText(name as (typeof DISTILL_CORPUS_NAMES)[number]);
  const set: LabelledTexts = { name, texts, labels: new Int32Array(texts.length), numClasses: 1, classNames: ['text'] };
  return encodeTextSet(textPrefix(set, limit), needText(name, opts));
}

/** The training labels alone (what partitioning needs), without decoding images or tokenizing text. */
export function loadTrainLabels(name: DatasetName, opts: Pick<LoadOptions, 'trainLimit'> = {}): Pick<LabelledExamples, 'labels' | 'numClasses' | 'classNames' | 'n'> {
  checkName(name, DATASET_NAMES);
  if (isTextTask(name)) {
    const { train } = loadTextTask(name, { trainLimit: opts.trainLimit });
    return { labels: train.labels, numClasses: train.numClasses, classNames: train.classNames, n: train.labels.length };
  }
  return loadTask(name, opts).train;
}
