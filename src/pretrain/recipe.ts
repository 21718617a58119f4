import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { BACKEND_CHOICES } from '../tensor/backend-choices.js';
import { IMAGE_DATASET_NAMES } from '../data/names.js';
import { UNLABELLED_CORPORA } from '../text/datasets.js';
import { UserError } from '../util/errors.js';

/** The transformer dimensions both kinds of recipe choose. */
const encoderArch = {
  hiddenSize: z.number().int().min(1),
  numHiddenLayers: z.number().int().min(1),
  numAttentionHeads: z.number().int().min(1),
  intermediateSize: z.number().int().min(1),
};

/** How both kinds of recipe train: the resumable loop's schedule and the backend. */
const schedule = {
  epochs: z.number().int().min(1),
  batchSize: z.number().int().min(1),
  learningRate: z.number().positive(),
  warmupSteps: z.number().int().min(0),
  weightDecay: z.number().min(0),
  checkpointEvery: z.number().int().min(1),
  backend: z.enum(BACKEND_CHOICES).default('wasm'),
};

/** A pretraining recipe: everything that determines the shipped FM's weights. */
export const recipeSchema = z.strictObject({
  name: z.string().regex(/^[A-Za-z0-9._-]+$/),
  out: z.string().min(1),
  seed: z.number().int().min(0),
  dataset: z.enum(IMAGE_DATASET_NAMES),
  arch: z.strictObject({ ...encoderArch, patchSize: z.number().int().min(1) }),
  ...schedule,
});

export type Recipe = z.output<typeof recipeSchema>;

/**
 * A masked-language-model recipe: a WordPiece tokenizer trained on the corpora, then a BERT
 * encoder trained to predict masked tokens of packed [CLS] ... [SEP] windows.
 */
export const mlmRecipeSchema = z
  .strictObject({
    objective: z.literal('mlm'),
    name: z.string().regex(/^[A-Za-z0-9._-]+$/),
    out: z.string().min(1),
    seed: z.number().int().min(0),
    /**
     * Continue from this text FM directory (weights, tokenizer.json and architecture) instead of a
     * new tokenizer and random weights; `tokenizer` and `arch` are then left out.
     */
    init: z.string().min(1).optional(),
    corpora: z.array(z.enum(UNLABELLED_CORPORA)).min(1),
    /** Only the first N texts of each corpus (small recipes for tests and quick trials). */
    maxTextsPerCorpus: z.number().int().min(1).optional(),
    /** Each text contributes at most this many tokens (keeps long e-mails from dominating). */
    maxTokensPerText: z.number().int().min(1).optional(),
    tokenizer: z
      .strictObject({
        vocabSize: z.number().int().min(16),
        minFrequency: z.number().int().min(1).default(2),
      })
      .optional(),
    arch: z.strictObject({ ...encoderArch, hiddenDropoutProb: z.number().min(0).lt(1).default(0) }).optional(),
    maxLength: z.number().int().min(8),
    maskProbability: z.number().gt(0).lt(1).default(0.15),
    /** Every k-th packed window is held out to measure masked-token loss and accuracy at the end. */
    validationEvery: z.number().int().min(2).default(50),
    ...schedule,
  })
  .superRefine((r, ctx) => {
    for (const field of ['tokenizer', 'arch'] as const) {
      if (r.init !== undefined && r[field] !== undefined) ctx.addIssue({ code: 'custom', path: [field], message: `leave ${field} out: it comes from init (${r.init})` });
      if (r.init === undefined && r[field] === undefined) ctx.addIssue({ code: 'custom', path: [field], message: `required unless init names an FM to continue from` });
    }
  });

export type MlmRecipe = z.output<typeof mlmRecipeSchema>;

function readRecipeJson(file: string): unknown {
  try {
    return JSON.parse(readFileSync(file, 'utf8'));
  } catch (err) {
    const reason = (err as NodeJS.ErrnoException).code === 'ENOENT' ? 'file not found' : `invalid JSON: ${(err as Error).message}`;
    throw new UserError(file, '', reason);
  }
}

function parseWith<T>(schema: z.ZodType<T>, raw: unknown, file: string): T {
  const parsed = schema.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new UserError(file, issue?.path.join('.') ?? '', issue?.message ?? 'invalid recipe');
  }
  return parsed.data;
}

/** Either kind of recipe, told apart by `objective` ("mlm", or absent for supervised image pretraining). */
export function loadAnyRecipe(file: string): { kind: 'image'; recipe: Recipe } | { kind: 'mlm'; recipe: MlmRecipe } {
  const raw = readRecipeJson(file);
  if (typeof raw === 'object' && raw !== null && (raw as Record<string, unknown>)['objective'] === 'mlm') {
    return { kind: 'mlm', recipe: parseWith(mlmRecipeSchema, raw, file) };
  }
  return { kind: 'image', recipe: parseWith(recipeSchema, raw, file) };
}

export function loadRecipe(file: string): Recipe {
  return parseWith(recipeSchema, readRecipeJson(file), file);
}

/** Linear warm-up, then cosine decay to zero at the last step. */
export function pretrainLr(recipe: Pick<Recipe, 'learningRate' | 'warmupSteps'>, step: number, totalSteps: number): number {
  if (step < recipe.warmupSteps) return (recipe.learningRate * (step + 1)) / recipe.warmupSteps;
  const progress = (step - recipe.warmupSteps) / Math.max(1, totalSteps - recipe.warmupSteps);
  return 0.5 * recipe.learningRate * (1 + Math.cos(Math.PI * Math.min(1, progress)));
}
