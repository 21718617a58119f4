/** Dataset names that scenario files may use; the loaders live in registry.ts. */
export const IMAGE_DATASET_NAMES = ['mnist', 'fashion-mnist'] as const;
export type ImageDatasetName = (typeof IMAGE_DATASET_NAMES)[number];

/** Labelled text tasks built from npm packages (src/text/datasets.ts); they need a text FM's tokenizer. */
export const TEXT_TASK_NAMES = ['spam', 'sotu-party'] as const;
export type TextTaskName = (typeof TEXT_TASK_NAMES)[number];

/** Tasks read from the user's own files (`task.files`): GLUE TSVs, CIFAR binary batches. */
export const GLUE_DATASET_NAMES = ['glue-sst2', 'glue-qnli', 'glue-mnli', 'glue-qqp'] as const;
export type GlueDatasetName = (typeof GLUE_DATASET_NAMES)[number];
export const CIFAR_DATASET_NAMES = ['cifar10', 'cifar100'] as const;
export type CifarDatasetName = (typeof CIFAR_DATASET_NAMES)[number];
export const FILE_DATASET_NAMES = [...GLUE_DATASET_NAMES, ...CIFAR_DATASET_NAMES] as const;

export const DATASET_NAMES = [...IMAGE_DATASET_NAMES, ...TEXT_TASK_NAMES, ...FILE_DATASET_NAMES] as const;
export type DatasetName = (typeof DATASET_NAMES)[number];

/** Unlabelled text that may feed distillation (a text FM's pretraining domain). */
export const DISTILL_CORPUS_NAMES = ['moby-dick', 'sotu'] as const;
export const DISTILL_DATASET_NAMES = [...DATASET_NAMES, ...DISTILL_CORPUS_NAMES] as const;
export type DistillDatasetName = (typeof DISTILL_DATASET_NAMES)[number];

/** Built-in text tasks and GLUE files: inputs a text FM's tokenizer must encode. */
export function isTextTask(name: string): boolean {
  return (TEXT_TASK_NAMES as readonly string[]).includes(name) || (GLUE_DATASET_NAMES as readonly string[]).includes(name);
}

export function isFileDataset(name: string): boolean {
  return (FILE_DATASET_NAMES as readonly string[]).includes(name);
}
