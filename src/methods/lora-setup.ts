import * as tf from '@tensorflow/tfjs-core';
import type { NamedArray } from '../model/safetensors.js';
import { selectNames, type Params } from '../model/params.js';
import { headShapes, initLoraParams, paramShapes, type ModelConfig } from '../model/encoder.js';
import type { LoraOptions } from '../model/layers.js';
import { Rng } from '../util/rng.js';

/** What FedPETuning, FedOT and FedPFT exchange: LoRA on attention and the classification head. */
export const LORA_AND_HEAD = ['*.lora_A.weight', '*.lora_B.weight', 'classifier.*', 'bert.pooler.*'];

/**
 * Adds LoRA tensors and a freshly initialised head for the downstream task to a copy of `base`.
 * The FM's own head belongs to its pretraining labels, so the head is re-drawn (seeded)
 * rather than reused, as HF does when fine-tuning on a new label set.
 */
export function withLoraAndHead(base: Params, cfg: ModelConfig, numLabels: number, lora: LoraOptions, seed: number): { cfg: ModelConfig; params: Params } {
  const params: Params = new Map();
  const taskCfg = { ...cfg, numLabels };
  const head = headShapes(taskCfg);
  // Only the classifier is label-specific; a pretrained pooler (BERT) is kept when the FM has one.
  // Tensors the task model does not use (a masked-LM head) stay behind.
  const shapes = paramShapes(taskCfg);
  const keep = (name: string) => !name.startsWith('classifier.') && shapes.has(name) && base.get(name)?.shape.join() === shapes.get(name)?.join();
  for (const [name, t] of base) if (keep(name)) params.set(name, tf.clone(t));
  for (const [name, t] of initLoraParams(taskCfg, lora.rank, new Rng(`${seed}/lora-init`))) params.set(name, t);
  const rng = new Rng(`${seed}/head-init`);
  for (const [name, shape] of head) {
    if (params.has(name)) continue;
    const data = new Float32Array(shape.reduce((a, b) => a * b, 1));
    if (!name.endsWith('.bias')) for (let i = 0; i < data.length; i++) data[i] = 0.02 * rng.normal();
    params.set(name, tf.tensor(data, shape, 'float32'));
  }
  return { cfg: taskCfg, params };
}

export function toNamedArrays(params: Params): NamedArray[] {
  return [...params.entries()]
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([name, t]) => ({ name, shape: t.shape, data: new Float32Array(t.dataSync() as Float32Array) }));
}

export function trainableNames(params: Params): string[] {
  return selectNames(params, LORA_AND_HEAD);
}
