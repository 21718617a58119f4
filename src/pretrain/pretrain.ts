import * as tf from '@tensorflow/tfjs-core';
import { copyFileSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadTask } from '../data/registry.js';
import { AdamW, DEFAULT_ADAMW } from '../model/adamw.js';
import { decodeSafetensors, encodeSafetensors, type NamedArray } from '../model/safetensors.js';
import { crossEntropy, evaluate, gatherBatch, makeTrainable, trainStep } from '../model/train.js';
import { saveVit } from '../model/vit-checkpoint.js';
import { initVitParams, vitForward, type VitConfig } from '../model/vit.js';
import { initBackend } from '../tensor/backend.js';
import { appendLineDurable, writeFileAtomic } from '../util/atomic-write.js';
import { UserError } from '../util/errors.js';
import { Rng, stream } from '../util/rng.js';
import { loadRecipe, pretrainLr, type Recipe } from './recipe.js';

export interface PretrainOptions {
  log?: (line: string) => void;
  /** Stop (with a checkpoint) after this many steps in this invocation; for tests of resume. */
  stopAfterSteps?: number;
}

export interface PretrainResult {
  done: boolean;
  step: number;
  totalSteps: number;
  validationAccuracy?: number;
  sha256?: string;
  backend: string;
}

const LOG_EVERY = 50;
const STATE_FILE = 'state.safetensors';

/**
 * Supervised pretraining of a ViT FM from a recipe. Deterministic (seeded init and data order,
 * single-threaded kernels) and resumable: parameters, AdamW moments and the step are saved
 * together in one atomically written file under `<out>.partial/`, so a run killed at any point
 * continues from its last checkpoint and ends with the same weights as an uninterrupted one.
 */
export async function pretrain(recipeFile: string, opts: PretrainOptions = {}): Promise<PretrainResult> {
  const log = opts.log ?? ((line: string) => console.log(line));
  const recipe = loadRecipe(recipeFile);
  const backend = await initBackend(recipe.backend);
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
  const stepsPerEpoch = Math.floor(train.n / recipe.batchSize);
  const totalSteps = stepsPerEpoch * recipe.epochs;
  const partial = `${recipe.out}.partial`;
  mkdirSync(partial, { recursive: true });

  const params = initVitParams(cfg, new Rng(`${recipe.seed}/pretrain-init`));
  const vars = makeTrainable(params, [...params.keys()]);
  const optimizer = new AdamW(vars, { ...DEFAULT_ADAMW, weightDecay: recipe.weightDecay });
  let step = restore(join(partial, STATE_FILE), vars, optimizer);
  if (step > 0) log(`resuming ${recipe.name} at step ${step}/${totalSteps}`);
  else log(`pretraining ${recipe.name} on ${recipe.dataset}: ${totalSteps} steps of ${recipe.batchSize} on ${backend.name}`);

  let order: Int32Array | null = null;
  let orderEpoch = -1;
  let windowLoss = 0;
  let windowSteps = 0;
  const t0 = performance.now();
  const stopAt = opts.stopAfterSteps === undefined ? totalSteps : Math.min(totalSteps, step + opts.stopAfterSteps);
  while (step < stopAt) {
    const epoch = Math.floor(step / stepsPerEpoch);
    if (epoch !== orderEpoch) {
      order = Int32Array.from(stream(recipe.seed, 'pretrain-order', epoch).shuffle(Array.from({ length: train.n }, (_, i) => i)));
      orderEpoch = epoch;
    }
    const { x, y } = gatherBatch(train.features, train.labels, feat, order as Int32Array, (step % stepsPerEpoch) * recipe.batchSize, recipe.batchSize);
    const lr = pretrainLr(recipe, step, totalSteps);
    windowLoss += trainStep(() => crossEntropy(vitForward(cfg, params, x), y), vars, optimizer, lr);
    x.dispose();
    windowSteps++;
    step++;
    if (step % LOG_EVERY === 0 || step === stopAt) {
      const entry = { step, epoch, loss: windowLoss / windowSteps, lr, seconds: (performance.now() - t0) / 1000 };
      appendLineDurable(join(partial, 'train-log.jsonl'), JSON.stringify(entry));
      log(`step ${step}/${totalSteps} epoch ${epoch + 1} loss ${entry.loss.toFixed(4)} lr ${lr.toExponential(2)} ${entry.seconds.toFixed(0)}s`);
      windowLoss = 0;
      windowSteps = 0;
    }
    if (step % recipe.checkpointEvery === 0 || step === stopAt) save(join(partial, STATE_FILE), vars, optimizer, step);
  }
  if (step < totalSteps) {
    optimizer.dispose();
    for (const t of params.values()) t.dispose();
    return { done: false, step, totalSteps, backend: backend.name };
  }

  const val = evaluate((xb) => vitForward(cfg, params, xb), validation.features, validation.labels, feat);
  log(`validation accuracy ${(val.accuracy * 100).toFixed(2)}% on ${val.n} ${recipe.dataset} images`);
  const { sha256 } = saveVit(recipe.out, cfg, params, train.classNames, { recipe: recipe.name, seed: String(recipe.seed) });
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

function save(file: string, vars: Map<string, tf.Variable>, optimizer: AdamW, step: number): void {
  const state = optimizer.exportState();
  const arrays: NamedArray[] = [];
  for (const [name, t] of [...vars, ...state.tensors]) {
    arrays.push({ name, shape: t.shape, data: new Float32Array(t.dataSync() as Float32Array) });
  }
  writeFileAtomic(file, encodeSafetensors(arrays, { step: String(step), adamwStep: String(state.step) }));
}

function restore(file: string, vars: Map<string, tf.Variable>, optimizer: AdamW): number {
  if (!existsSync(file)) return 0;
  const { tensors, metadata } = decodeSafetensors(readFileSync(file), file);
  const get = (name: string): Float32Array => {
    const t = tensors.get(name);
    if (!t) throw new Error(`${file}: missing ${name}; delete the .partial directory to start over`);
    return t.data;
  };
  tf.tidy(() => {
    for (const [name, v] of vars) v.assign(tf.tensor(get(name), v.shape, 'float32'));
  });
  optimizer.importState(Number(metadata['adamwStep']), get);
  return Number(metadata['step']);
}

export type { Recipe };
