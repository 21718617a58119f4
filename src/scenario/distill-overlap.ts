import { DISTILL_CORPUS_NAMES, IMAGE_DATASET_NAMES, isTextTask, type DatasetName, type DistillDatasetName } from '../data/names.js';

/**
 * Distill datasets that hold a task's training split under another name. 'sotu' is every
 * address except sotu-party's validation ones (src/text/datasets.ts unlabelledText), so it
 * holds all of sotu-party's training paragraphs: the clients' data.
 */
const CONTAINS: Partial<Record<DistillDatasetName, readonly DatasetName[]>> = { sotu: ['sotu-party'] };

/** Whether distilling on `distill` reads the training data of `task`. */
export function distillReadsTask(task: DatasetName, distill: DistillDatasetName): boolean {
  return (distill as string) === task || (CONTAINS[distill]?.includes(task) ?? false);
}

/**
 * Distillation runs on the server, so its data must not include the task's training split,
 * which is the union of every client's private data. Returns what is wrong (one line, for
 * method.distill.dataset), or null when `distill` is apart from the task's data.
 */
export function distillOverlap(task: DatasetName, distill: DistillDatasetName): string | null {
  if (!distillReadsTask(task, distill)) return null;
  const what = (distill as string) === task ? "is the task's dataset" : `contains ${task}'s training split`;
  const same: readonly string[] = isTextTask(task) ? DISTILL_CORPUS_NAMES : (IMAGE_DATASET_NAMES as readonly string[]).includes(task) ? IMAGE_DATASET_NAMES : [];
  const others = same.filter((d) => !distillReadsTask(task, d as DistillDatasetName));
  const instead = others.length > 0 ? `, e.g. ${others.join(' or ')}` : '';
  return `"${distill}" ${what}, the clients' private data; expected data from the FM's pretraining domain apart from it${instead}`;
}
