import * as tf from '@tensorflow/tfjs-core';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { AdamW } from '../model/adamw.js';
import { decodeSafetensors, encodeSafetensors, type NamedArray } from '../model/safetensors.js';
import { appendLineDurable, writeFileAtomic } from '../util/atomic-write.js';
import { readFloats } from '../tensor/read.js';
import { stream } from '../util/rng.js';
import { pretrainLr, type Recipe } from './recipe.js';

/**
 * The resumable part every pretraining objective shares: parameters, AdamW moments and the step
 * are saved together in one atomically written file under `<out>.partial/`, so a run killed at
 * any point continues from its last checkpoint and ends with the same weights as an
 * uninterrupted one. Each LOG_EVERY steps a line goes to the log and to train-log.jsonl.
 */

const LOG_EVERY = 50;
const STATE_FILE = 'state.safetensors';

export interface PretrainLoop {
  partial: string;
  vars: Map<string, tf.Variable>;
  optimizer: AdamW;
  recipe: Pick<Recipe, 'seed' | 'batchSize' | 'epochs' | 'learningRate' | 'warmupSteps' | 'checkpointEvery'>;
  /** What an epoch visits: these example indices, shuffled per epoch by (seed, orderPurpose, epoch). */
  items: readonly number[];
  orderPurpose: string;
  stopAfterSteps?: number;
  /** One optimisation step at `step` (0-based) with learning rate `lr` on `batch` (items); returns the loss. */
  trainStep(step: number, lr: number, batch: number[]): Promise<number>;
  log(line: string): void;
}

/** Steps per epoch (whole batches only) and in all. */
export function loopSteps(items: number, recipe: Pick<Recipe, 'batchSize' | 'epochs'>): { stepsPerEpoch: number; totalSteps: number } {
  const stepsPerEpoch = Math.floor(items / recipe.batchSize);
  return { stepsPerEpoch, totalSteps: stepsPerEpoch * recipe.epochs };
}

/** Runs from the saved step to the end (or the stop); returns the step reached. */
export async function runPretrainLoop(loop: PretrainLoop, resumedFrom: number): Promise<number> {
  const { recipe } = loop;
  const { stepsPerEpoch, totalSteps } = loopSteps(loop.items.length, recipe);
  let order: number[] = [];
  let orderEpoch = -1;
  let step = resumedFrom;
  let windowLoss = 0;
  let windowSteps = 0;
  const t0 = performance.now();
  const stopAt = loop.stopAfterSteps === undefined ? totalSteps : Math.min(totalSteps, step + loop.stopAfterSteps);
  while (step < stopAt) {
    const lr = pretrainLr(recipe, step, totalSteps);
    const epoch = Math.floor(step / stepsPerEpoch);
    if (epoch !== orderEpoch) {
      order = stream(recipe.seed, loop.orderPurpose, epoch).shuffle([...loop.items]);
      orderEpoch = epoch;
    }
    const start = (step % stepsPerEpoch) * recipe.batchSize;
    windowLoss += await loop.trainStep(step, lr, order.slice(start, start + recipe.batchSize));
    windowSteps++;
    step++;
    if (step % LOG_EVERY === 0 || step === stopAt) {
      const seconds = (performance.now() - t0) / 1000;
      const entry = { step, epoch, loss: windowLoss / windowSteps, lr, seconds };
      appendLineDurable(join(loop.partial, 'train-log.jsonl'), JSON.stringify(entry));
      const eta = ((totalSteps - step) * seconds) / Math.max(1, step - resumedFrom);
      loop.log(
        `step ${step}/${totalSteps} epoch ${epoch + 1} loss ${entry.loss.toFixed(4)} lr ${lr.toExponential(2)} ${seconds.toFixed(0)}s (about ${Math.ceil(eta / 60)} min left)`,
      );
      windowLoss = 0;
      windowSteps = 0;
    }
    if (step % recipe.checkpointEvery === 0 || step === stopAt) await saveLoopState(loop.partial, loop.vars, loop.optimizer, step);
  }
  return step;
}

export async function saveLoopState(partial: string, vars: Map<string, tf.Variable>, optimizer: AdamW, step: number): Promise<void> {
  const state = await optimizer.exportState();
  const arrays: NamedArray[] = [];
  for (const [name, t] of vars) arrays.push({ name, shape: t.shape, data: await readFloats(t) });
  arrays.push(...state.moments);
  writeFileAtomic(join(partial, STATE_FILE), encodeSafetensors(arrays, { step: String(step), adamwStep: String(state.step) }));
}

/** The saved step (0 when there is no checkpoint), with vars and optimizer restored to it. */
export function restoreLoopState(partial: string, vars: Map<string, tf.Variable>, optimizer: AdamW): number {
  const file = join(partial, STATE_FILE);
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
  /** Masked-LM recipes: accuracy on the held-out windows' masked tokens. */
  heldOutMaskedAccuracy?: number;
  sha256?: string;
  backend: string;
}
