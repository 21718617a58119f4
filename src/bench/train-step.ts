import * as tf from '@tensorflow/tfjs-core';
import { AdamW, DEFAULT_ADAMW } from '../model/adamw.js';
import { selectNames } from '../model/params.js';
import { crossEntropy, makeTrainable, trainStep } from '../model/train.js';
import { initLoraParams, initVitParams, vitForward, vitForwardMacs, type VitConfig } from '../model/vit.js';
import { Rng } from '../util/rng.js';

export interface StepMeasurement {
  gflops: number;
  msPerStep: number;
  flopsPerStep: number;
}

/**
 * Train-step throughput of a ViT on the current backend. FLOPs are counted from the shapes:
 * forward, input gradients (1x forward) and weight gradients (1x forward when every weight
 * trains; LoRA's own weight gradients are small and not counted, so LoRA steps count 2x).
 */
export function measureTrainStep(cfg: VitConfig, batch: number, steps: number, lora: { rank: number } | null): StepMeasurement {
  const rng = new Rng('bench');
  const params = initVitParams(cfg, rng);
  let trainable: string[];
  if (lora) {
    for (const [k, v] of initLoraParams(cfg, lora.rank, rng)) params.set(k, v);
    trainable = selectNames(params, ['*.lora_A.weight', '*.lora_B.weight', 'classifier.*']);
  } else {
    trainable = [...params.keys()];
  }
  const vars = makeTrainable(params, trainable);
  const opt = new AdamW(vars, DEFAULT_ADAMW);
  const feat = cfg.numChannels * cfg.imageSize * cfg.imageSize;
  const xData = new Float32Array(batch * feat);
  for (let i = 0; i < xData.length; i++) xData[i] = rng.next();
  const x = tf.tensor2d(xData, [batch, feat]);
  const y = Int32Array.from({ length: batch }, (_, i) => i % cfg.numLabels);
  const loraOpts = lora ? { rank: lora.rank, alpha: 2 * lora.rank, dropout: 0 } : undefined;
  const step = () => trainStep(() => crossEntropy(vitForward(cfg, params, x, { lora: loraOpts }), y), vars, opt, 1e-4);
  step();
  const t0 = performance.now();
  for (let i = 0; i < steps; i++) step();
  const ms = (performance.now() - t0) / steps;
  const flopsPerStep = (lora ? 2 : 3) * 2 * vitForwardMacs(cfg, lora?.rank ?? 0) * batch;
  x.dispose();
  opt.dispose();
  for (const t of params.values()) t.dispose();
  return { gflops: flopsPerStep / (ms * 1e6), msPerStep: ms, flopsPerStep };
}

/** Plain 2-D matMul throughput of the current backend, the ceiling the train step is compared to. */
export function measureMatMul(m: number, k: number, n: number, reps: number): number {
  const a = tf.randomUniform([m, k], -1, 1, 'float32', 1);
  const b = tf.randomUniform([k, n], -1, 1, 'float32', 2);
  const run = () => {
    const c = tf.matMul(a, b);
    c.dataSync();
    c.dispose();
  };
  run();
  const t0 = performance.now();
  for (let i = 0; i < reps; i++) run();
  const ms = (performance.now() - t0) / reps;
  a.dispose();
  b.dispose();
  return (2 * m * k * n) / (ms * 1e6);
}
