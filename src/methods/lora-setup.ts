import * as tf from '@tensorflow/tfjs-core';
import type { NamedArray } from '../model/safetensors.js';
import { selectNames, type Params } from '../model/params.js';
import { initLoraParams, type LoraOptions, type VitConfig } from '../model/vit.js';
import { Rng } from '../util/rng.js';

/** What FedPETuning, FedOT and FedPFT exchange: LoRA on attention and the classification head. */
export const LORA_AND_HEAD = ['*.lora_A.weight', '*.lora_B.weight', 'classifier.weight', 'classifier.bias'];

/**
 * Adds LoRA tensors and a freshly initialised head for the downstream task to a copy of `base`.
 * The FM's own head belongs to its pretraining labels, so the head is re-drawn (seeded)
 * rather than reused, as HF does when fine-tuning on a new label set.
 */
export function withLoraAndHead(base: Params, cfg: VitConfig, numLabels: number, lora: LoraOptions, seed: number): { cfg: VitConfig; params: Params } {
  const params: Params = new Map();
  for (const [name, t] of base) if (!name.startsWith('classifier.')) params.set(name, tf.clone(t));
  const taskCfg = { ...cfg, numLabels };
  for (const [name, t] of initLoraParams(taskCfg, lora.rank, new Rng(`${seed}/lora-init`))) params.set(name, t);
  const rng = new Rng(`${seed}/head-init`);
  const head = new Float32Array(cfg.hiddenSize * numLabels);
  for (let i = 0; i < head.length; i++) head[i] = 0.02 * rng.normal();
  params.set('classifier.weight', tf.tensor(head, [cfg.hiddenSize, numLabels], 'float32'));
  params.set('classifier.bias', tf.zeros([numLabels], 'float32'));
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
