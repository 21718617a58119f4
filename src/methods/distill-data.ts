import type { DistillOptions } from '../proxy/distill.js';
import { sameInput, type LabelledExamples } from '../data/dataset.js';
import { loadDistillData } from '../data/registry.js';
import type { DistillDatasetName } from '../data/names.js';
import { distillOverlap } from '../scenario/distill-overlap.js';
import { UserError } from '../util/errors.js';
import type { MethodContext } from './method.js';

/** The distillation examples a proxy method asked for, encoded as the task is (checked to fit the same model input). */
export function distillDataFor(distill: { dataset: DistillDatasetName; examples: number }, ctx: MethodContext): LabelledExamples {
  // parseScenario refuses this already; a Scenario built in code must not get past it either.
  const overlap = distillOverlap(ctx.scenario.task.dataset, distill.dataset);
  if (overlap) throw new UserError('scenario', 'method.distill.dataset', overlap);
  const d = loadDistillData(distill.dataset, { trainLimit: distill.examples, text: ctx.text });
  if (!sameInput(d.input, ctx.data.train.input)) {
    throw new UserError('scenario', 'method.distill.dataset', `${distill.dataset} does not have the task's input shape (${JSON.stringify(ctx.data.train.input)})`);
  }
  return d;
}

/** A distillation section of the scenario as distill() takes it: steps, batch, peak rate, clipping and schedule. */
export function distillRunOptions(c: {
  steps: number;
  batchSize: number;
  learningRate: number;
  maxGradNorm: number;
  schedule: 'linear-warmup' | 'constant';
  warmupRatio: number;
}): Pick<DistillOptions, 'steps' | 'batchSize' | 'lr' | 'maxGradNorm' | 'schedule'> {
  return {
    steps: c.steps,
    batchSize: c.batchSize,
    lr: c.learningRate,
    maxGradNorm: c.maxGradNorm,
    schedule: c.schedule === 'constant' ? { kind: 'constant' } : { kind: 'linear-warmup', warmupRatio: c.warmupRatio },
  };
}

/** How a distillation run was optimised, as the summary records it. */
export function distillFacts(c: { maxGradNorm: number; schedule: string; warmupRatio: number }): Record<string, unknown> {
  return { maxGradNorm: c.maxGradNorm, schedule: c.schedule === 'constant' ? 'constant' : `linear-warmup ${c.warmupRatio}` };
}
