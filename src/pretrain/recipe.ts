import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { DATASET_NAMES } from '../data/names.js';
import { UserError } from '../util/errors.js';

/** A pretraining recipe: everything that determines the shipped FM's weights. */
export const recipeSchema = z.strictObject({
  name: z.string().regex(/^[A-Za-z0-9._-]+$/),
  out: z.string().min(1),
  seed: z.number().int().min(0),
  dataset: z.enum(DATASET_NAMES),
  arch: z.strictObject({
    hiddenSize: z.number().int().min(1),
    numHiddenLayers: z.number().int().min(1),
    numAttentionHeads: z.number().int().min(1),
    intermediateSize: z.number().int().min(1),
    patchSize: z.number().int().min(1),
  }),
  epochs: z.number().int().min(1),
  batchSize: z.number().int().min(1),
  learningRate: z.number().positive(),
  warmupSteps: z.number().int().min(0),
  weightDecay: z.number().min(0),
  checkpointEvery: z.number().int().min(1),
  backend: z.enum(['auto', 'tensorflow', 'wasm', 'cpu']).default('wasm'),
});

export type Recipe = z.output<typeof recipeSchema>;

export function loadRecipe(file: string): Recipe {
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(file, 'utf8'));
  } catch (err) {
    const reason = (err as NodeJS.ErrnoException).code === 'ENOENT' ? 'file not found' : `invalid JSON: ${(err as Error).message}`;
    throw new UserError(file, '', reason);
  }
  const parsed = recipeSchema.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new UserError(file, issue?.path.join('.') ?? '', issue?.message ?? 'invalid recipe');
  }
  return parsed.data;
}

/** Linear warm-up, then cosine decay to zero at the last step. */
export function pretrainLr(recipe: Recipe, step: number, totalSteps: number): number {
  if (step < recipe.warmupSteps) return (recipe.learningRate * (step + 1)) / recipe.warmupSteps;
  const progress = (step - recipe.warmupSteps) / Math.max(1, totalSteps - recipe.warmupSteps);
  return 0.5 * recipe.learningRate * (1 + Math.cos(Math.PI * Math.min(1, progress)));
}
