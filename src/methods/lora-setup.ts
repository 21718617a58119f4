import * as tf from '@tensorflow/tfjs-core';
import type { NamedArray } from '../model/safetensors.js';
import { selectNames, type Params } from '../model/params.js';
import { headShapes, initLoraParams, paramShapes, type ModelConfig } from '../model/encoder.js';
import type { LoraOptions } from '../model/layers.js';
import { Rng } from '../util/rng.js';
import { readFloats } from '../tensor/read.js';

/** Which head tensors train and travel besides the classifier (see exchangedPatterns). */
export type HeadChoice = 'auto' | 'classifier' | 'classifier+pooler';

const LORA = ['*.lora_A.weight', '*.lora_B.weight'];
const POOLER = 'bert.pooler.';

/**
 * What FedPETuning, FedOT and FedPFT exchange: LoRA on attention and the classification head.
 * `classifier` is the reference code's (PEFT's modules_to_save): on BERT the pretrained pooler
 * stays frozen. `auto` trains the pooler only when the FM has none of its own (then it is freshly
 * drawn, and a frozen random pooler would throw away [CLS] information).
 */
function exchangedPatterns(head: HeadChoice, pretrainedPooler: boolean): string[] {
  const pooler = head === 'classifier+pooler' || (head === 'auto' && !pretrainedPooler);
  return [...LORA, 'classifier.*', ...(pooler ? [`${POOLER}*`] : [])];
}

/**
 * Adds LoRA tensors and a freshly initialised head for the downstream task to a copy of `base`.
 * The FM's own head belongs to its pretraining labels, so the head is re-drawn (seeded)
 * rather than reused, as HF does when fine-tuning on a new label set.
 */
export function withLoraAndHead(
  base: Params,
  cfg: ModelConfig,
  numLabels: number,
  lora: LoraOptions,
  seed: number,
  head: HeadChoice,
): { cfg: ModelConfig; params: Params; exchanged: string[] } {
  const params: Params = new Map();
  const taskCfg = { ...cfg, numLabels };
  const headTensors = headShapes(taskCfg);
  // Only the classifier is label-specific; a pretrained pooler (BERT) is kept when the FM has one.
  // Tensors the task model does not use (a masked-LM head) stay behind.
  const shapes = paramShapes(taskCfg);
  const keep = (name: string) => !name.startsWith('classifier.') && shapes.has(name) && base.get(name)?.shape.join() === shapes.get(name)?.join();
  for (const [name, t] of base) if (keep(name)) params.set(name, tf.clone(t));
  for (const [name, t] of initLoraParams(taskCfg, lora.rank, new Rng(`${seed}/lora-init`))) params.set(name, t);
  const pretrainedPooler = [...params.keys()].some((n) => n.startsWith(POOLER));
  const rng = new Rng(`${seed}/head-init`);
  for (const [name, shape] of headTensors) {
    if (params.has(name)) continue;
    const data = new Float32Array(shape.reduce((a, b) => a * b, 1));
    if (!name.endsWith('.bias')) for (let i = 0; i < data.length; i++) data[i] = 0.02 * rng.normal();
    params.set(name, tf.tensor(data, shape, 'float32'));
  }
  return { cfg: taskCfg, params, exchanged: exchangedPatterns(head, pretrainedPooler) };
}

/** The head choice and what it trained, as the summary records it. */
export function headFacts(head: HeadChoice, exchanged: readonly string[]): { choice: HeadChoice; pooler: boolean } {
  return { choice: head, pooler: exchanged.includes(`${POOLER}*`) };
}

export async function toNamedArrays(params: Params): Promise<NamedArray[]> {
  const sorted = [...params.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return Promise.all(sorted.map(async ([name, t]) => ({ name, shape: t.shape, data: await readFloats(t) })));
}

/** The tensors of `params` that train and travel, sorted: the global vector's order. */
export function trainableNames(params: Params, exchanged: readonly string[]): string[] {
  return selectNames(params, exchanged);
}
