import * as tf from '@tensorflow/tfjs-core';
import { tokenFeatureSize } from '../data/dataset.js';
import { AdamW, DEFAULT_ADAMW } from '../model/adamw.js';
import { selectNames } from '../model/params.js';
import { crossEntropy, makeTrainable, trainStep } from '../model/train.js';
import { forwardMacs, initLoraParams, initModelParams, isText, modelForward, type ModelConfig } from '../model/encoder.js';
import { Rng } from '../util/rng.js';
import { readView } from '../tensor/read.js';

export interface StepMeasurement {
  gflops: number;
  msPerStep: number;
  flopsPerStep: number;
}

/**
 * Train-step throughput of an encoder (ViT on random images, BERT on random token ids of
 * `textLength` tokens) on the current backend. FLOPs are counted from the shapes:
 * forward, input gradients (1x forward) and weight gradients (1x forward when every weight
 * trains; LoRA's own weight gradients are small and not counted, so LoRA steps count 2x).
 */
export async function measureTrainStep(cfg: ModelConfig, batch: number, steps: number, lora: { rank: number } | null, textLength = 128): Promise<StepMeasurement> {
  const rng = new Rng('bench');
  const params = initModelParams(cfg, rng);
  let trainable: string[];
  if (lora) {
    for (const [k, v] of initLoraParams(cfg, lora.rank, rng)) params.set(k, v);
    trainable = selectNames(params, ['*.lora_A.weight', '*.lora_B.weight', 'classifier.*', 'bert.pooler.*']);
  } else {
    trainable = [...params.keys()];
  }
  const vars = makeTrainable(params, trainable);
  const opt = new AdamW(vars, DEFAULT_ADAMW);
  const { features: xData, featureSize: feat } = randomInputs(cfg, batch, rng, textLength);
  const x = tf.tensor2d(xData, [batch, feat]);
  const y = Int32Array.from({ length: batch }, (_, i) => i % cfg.numLabels);
  const loraOpts = lora ? { rank: lora.rank, alpha: 2 * lora.rank, dropout: 0 } : undefined;
  const step = () => trainStep(() => crossEntropy(modelForward(cfg, params, x, { lora: loraOpts }), y), vars, opt, 1e-4);
  await step();
  const t0 = performance.now();
  for (let i = 0; i < steps; i++) await step();
  const ms = (performance.now() - t0) / steps;
  const flopsPerStep = (lora ? 2 : 3) * 2 * forwardMacs(cfg, feat, lora?.rank ?? 0) * batch;
  x.dispose();
  opt.dispose();
  for (const t of params.values()) t.dispose();
  return { gflops: flopsPerStep / (ms * 1e6), msPerStep: ms, flopsPerStep };
}

/** Random model inputs: pixels in [0, 1], or token ids that are never the pad id (token types 0, attention mask 1). */
export function randomInputs(cfg: ModelConfig, batch: number, rng: Rng, textLength: number): { features: Float32Array; featureSize: number } {
  if (!isText(cfg)) {
    const featureSize = cfg.numChannels * cfg.imageSize * cfg.imageSize;
    const features = new Float32Array(batch * featureSize);
    for (let i = 0; i < features.length; i++) features[i] = rng.next();
    return { features, featureSize };
  }
  const featureSize = tokenFeatureSize(textLength);
  const features = new Float32Array(batch * featureSize);
  for (let r = 0; r < batch; r++) {
    for (let j = 0; j < textLength; j++) {
      features[r * featureSize + j] = (cfg.padTokenId + 1 + rng.int(cfg.vocabSize - 1)) % cfg.vocabSize;
      features[r * featureSize + 2 * textLength + j] = 1;
    }
  }
  return { features, featureSize };
}

/** Plain 2-D matMul throughput of the current backend over at least `seconds` (and 10 products): the ceiling the train step is compared to. */
export async function measureMatMul(m: number, k: number, n: number, seconds: number): Promise<number> {
  const a = tf.randomUniform([m, k], -1, 1, 'float32', 1);
  const b = tf.randomUniform([k, n], -1, 1, 'float32', 2);
  const run = async () => {
    const c = tf.matMul(a, b);
    // Waiting for the values is what makes the time the product's, on devices that queue work.
    await readView(c);
    c.dispose();
  };
  await run();
  const t0 = performance.now();
  let reps = 0;
  while (reps < 10 || performance.now() - t0 < seconds * 1000) {
    await run();
    reps++;
  }
  const ms = (performance.now() - t0) / reps;
  a.dispose();
  b.dispose();
  return (2 * m * k * n) / (ms * 1e6);
}
