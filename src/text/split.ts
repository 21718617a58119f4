import { stream } from '../util/rng.js';

/**
 * The split seed is fixed, not the scenario's (as for the image datasets): the train/validation
 * split is a property of the dataset, so runs with different scenario seeds evaluate on the same
 * texts.
 */
export const TEXT_SPLIT_SEED = 0x5eed;

/** Collapses every run of whitespace to one space and trims the ends. */
export function normalizeWhitespace(text: string): string {
  return text.replace(/\s+/gu, ' ').trim();
}

/**
 * Stratified split of items grouped by class: class c's items are shuffled with
 * stream(TEXT_SPLIT_SEED, `split/<name>`, c) and the first round(count * validationFraction) go to
 * validation. Returns, per class, the validation and train items in shuffled order.
 */
export function stratifiedSplit<T>(
  name: string,
  byClass: T[][],
  validationFraction: number,
): { train: T[][]; validation: T[][] } {
  const train: T[][] = [];
  const validation: T[][] = [];
  byClass.forEach((items, c) => {
    const shuffled = stream(TEXT_SPLIT_SEED, `split/${name}`, c).shuffle([...items]);
    const numValidation = Math.round(items.length * validationFraction);
    validation.push(shuffled.slice(0, numValidation));
    train.push(shuffled.slice(numValidation));
  });
  return { train, validation };
}

/**
 * Interleaves per-class lists so that every prefix is class-balanced (as image-datasets.ts does):
 * the k-th of a class's m members gets the key (k + u)/m with u uniform in [0,1) drawn from
 * stream(TEXT_SPLIT_SEED, purpose), and members are sorted by key, ties by class.
 */
export function interleave<T>(byClass: T[][], purpose: string): Array<{ cls: number; item: T }> {
  const rng = stream(TEXT_SPLIT_SEED, purpose);
  const keyed: Array<{ key: number; cls: number; item: T }> = [];
  byClass.forEach((items, cls) => {
    items.forEach((item, k) => keyed.push({ key: (k + rng.next()) / items.length, cls, item }));
  });
  keyed.sort((a, b) => a.key - b.key || a.cls - b.cls);
  return keyed.map(({ cls, item }) => ({ cls, item }));
}
