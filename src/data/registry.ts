import { UserError } from '../util/errors.js';
import { prefix, type TaskData } from './dataset.js';
import { imageDatasetInfo, loadImageDataset, type ImageDatasetInfo } from './image-datasets.js';
import { DATASET_NAMES, type DatasetName } from './names.js';

export type DatasetInfo = ImageDatasetInfo;

export interface LoadOptions {
  /** At most this many training examples (a class-balanced prefix of the fixed train order). */
  trainLimit?: number;
  /** At most this many validation examples (a class-balanced prefix). */
  evalLimit?: number;
}

function checkName(name: string): DatasetName {
  if (!(DATASET_NAMES as readonly string[]).includes(name)) {
    throw new UserError('dataset', 'name', `unknown dataset "${name}"; expected one of ${DATASET_NAMES.join(', ')}`);
  }
  return name as DatasetName;
}

function checkLimit(field: string, limit: number | undefined): number {
  if (limit === undefined) return Infinity;
  if (!Number.isInteger(limit) || limit < 1) throw new UserError('dataset', field, `expected a positive integer, got ${limit}`);
  return limit;
}

/** Shape and classes, read from static metadata: no dataset file is opened. */
export function datasetInfo(name: DatasetName): DatasetInfo {
  return imageDatasetInfo(checkName(name));
}

/**
 * The dataset's fixed train/validation split (see image-datasets.ts), cut to the limits. A limit
 * above the split's size keeps the whole split; callers read the actual size from `n`.
 */
export function loadTask(name: DatasetName, opts: LoadOptions = {}): TaskData {
  const trainLimit = checkLimit('trainLimit', opts.trainLimit);
  const evalLimit = checkLimit('evalLimit', opts.evalLimit);
  const data = loadImageDataset(checkName(name));
  return { train: prefix(data.train, trainLimit), validation: prefix(data.validation, evalLimit) };
}
