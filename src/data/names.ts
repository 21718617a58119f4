/** Dataset names that scenario files may use; the loaders live in registry.ts. */
export const DATASET_NAMES = ['mnist', 'fashion-mnist'] as const;
export type DatasetName = (typeof DATASET_NAMES)[number];
