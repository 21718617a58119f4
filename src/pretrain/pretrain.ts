import { copyFileSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadTask } from '../data/registry.js';
import { AdamW, DEFAULT_ADAMW } from '../model/adamw.js';
import { crossEntropy, evaluate, gatherBatch, makeTrainable, trainStep } from '../model/train.js';
import { saveVit } from '../model/vit-checkpoint.js';
import { initVitParams, vitForward, type VitConfig } from '../model/vit.js';
import { initBackend } from '../tensor/backend.js';
import { UserError } from '../util/errors.js';
import { Rng } from '../util/rng.js';
import { loopSteps, restoreLoopState, runPretrainLoop, type PretrainOptions, type PretrainResult } from './loop.js';
import { loadAnyRecipe, type Recipe } from './recipe.js';



/**
 * Pretrains an FM from a recipe: a ViT supervised on an image dataset, or (objective "mlm") a
 * BERT encoder by masked-LM on text corpora (mlm.ts). Both are deterministic (seeded init, data
 * order and masks; single-threaded kernels) and resumable (loop.ts).
 */
export async function pretrain(recipeFile: string, opts: PretrainOptions = {}): Promise<PretrainResult> {
  const loaded = loadAnyRecipe(recipeFile);
  if (loaded.kind === 'mlm') {
    const { pretrainMlm } = await import('./mlm.js');
    return pretrainMlm(loaded.recipe, recipeFile, opts);
  }
  return pretrainImage(loaded.recipe, recipeFile, opts);
}

async function pretrainImage(recipe: Recipe, recipeFile: string, opts: PretrainOptions): Promise<PretrainResult> {
  const log = opts.log ?? ((line: string) => console.log(line));
  // A recipe records no kernel set: it runs the stock bits, so the shipped FMs reproduce anywhere.
  const backend = await initBackend(recipe.backend, 'exact');
  const { train, validation } = loadTask(recipe.dataset);
  const input = train.input;
  if (input.kind !== 'image') throw new UserError(recipeFile, 'dataset', `${recipe.dataset} is not an image dataset; the ViT FM takes images`);
  const cfg: VitConfig = {
    modelType: 'vit',
    ...recipe.arch,
    imageSize: input.height,
    numChannels: input.channels,
    numLabels: train.numClasses,
    layerNormEps: 1e-12,
    qkvBias: true,
  };
  const feat = train.featureSize;
  const items = Array.from({ length: train.n }, (_, i) => i);
  const { totalSteps } = loopSteps(items.length, recipe);
  const partial = `${recipe.out}.partial`;
  mkdirSync(partial, { recursive: true });

  const params = initVitParams(cfg, new Rng(`${recipe.seed}/pretrain-init`));
  const vars = makeTrainable(params, [...params.keys()]);
  const optimizer = new AdamW(vars, { ...DEFAULT_ADAMW, weightDecay: recipe.weightDecay });
  const resumed = restoreLoopState(partial, vars, optimizer);
  if (resumed > 0) log(`resuming ${recipe.name} at step ${resumed}/${totalSteps}`);
  else log(`pretraining ${recipe.name} on ${recipe.dataset}: ${totalSteps} steps of ${recipe.batchSize} on ${backend.name}`);

  const step = await runPretrainLoop(
    {
      partial,
      vars,
      optimizer,
      recipe,
      items,
      orderPurpose: 'pretrain-order',
      stopAfterSteps: opts.stopAfterSteps,
      log,
      trainStep: async (_s, lr, batch) => {
        const { x, y } = gatherBatch(train.features, train.labels, feat, Int32Array.from(batch), 0, batch.length);
        try {
          return await trainStep(() => crossEntropy(vitForward(cfg, params, x), y), vars, optimizer, lr);
        } finally {
          x.dispose();
        }
      },
    },
    resumed,
  );
  if (step < totalSteps) {
    optimizer.dispose();
    for (const t of params.values()) t.dispose();
    return { done: false, step, totalSteps, backend: backend.name };
  }

  const val = await evaluate((xb) => vitForward(cfg, params, xb), validation.features, validation.labels, feat);
  log(`validation accuracy ${(val.accuracy * 100).toFixed(2)}% on ${val.n} ${recipe.dataset} images`);
  const { sha256 } = await saveVit(recipe.out, cfg, params, train.classNames, { recipe: recipe.name, seed: String(recipe.seed) });
  copyFileSync(join(partial, 'train-log.jsonl'), join(recipe.out, 'train-log.jsonl'));
  writeFileSync(join(recipe.out, 'recipe.json'), readFileSync(recipeFile, 'utf8'));
  writeFileSync(
    join(recipe.out, 'pretrain.json'),
    JSON.stringify(
      { recipe: recipe.name, seed: recipe.seed, steps: totalSteps, backend: backend.name, tfjs: backend.tfjsVersion, validationAccuracy: val.accuracy, validationExamples: val.n, sha256 },
      null,
      2,
    ) + '\n',
  );
  writeFileSync(join(recipe.out, 'SHA256SUMS'), `${sha256}  model.safetensors\n`);
  optimizer.dispose();
  for (const t of params.values()) t.dispose();
  rmSync(partial, { recursive: true, force: true });
  return { done: true, step, totalSteps, validationAccuracy: val.accuracy, sha256, backend: backend.name };
}

export type { Recipe };
