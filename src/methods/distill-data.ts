import { sameInput, type LabelledExamples } from '../data/dataset.js';
import { loadDistillData } from '../data/registry.js';
import type { DistillDatasetName } from '../data/names.js';
import { UserError } from '../util/errors.js';
import type { MethodContext } from './method.js';

/** The distillation examples a proxy method asked for, encoded as the task is (checked to fit the same model input). */
export function distillDataFor(distill: { dataset: DistillDatasetName; examples: number }, ctx: MethodContext): LabelledExamples {
  const d = loadDistillData(distill.dataset, { trainLimit: distill.examples, text: ctx.text });
  if (!sameInput(d.input, ctx.data.train.input)) {
    throw new UserError('scenario', 'method.distill.dataset', `${distill.dataset} does not have the task's input shape (${JSON.stringify(ctx.data.train.input)})`);
  }
  return d;
}
