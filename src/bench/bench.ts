import { execFileSync } from 'node:child_process';
import { tokenFeatureSize } from '../data/dataset.js';
import { isText, readModelConfig, tokensPerExample } from '../model/encoder.js';
import { maxSequenceLength } from '../model/bert.js';
import { backendLabel, initBackend, type BackendChoice } from '../tensor/backend.js';
import type { KernelChoice } from '../tensor/backend-choices.js';
import { compiled, median } from './common.js';
import { measureMatMul, measureTrainStep } from './train-step.js';

const TEXT_LENGTH = 128;

export interface StepSummary {
  /** Best (highest) over the repeats; see benchEngine for why. */
  gflops: number;
  /** Of the best repeat. */
  msPerStep: number;
  /** Median over the repeats, for reference. */
  medianGflops: number;
  /** gflops / matMulGflops: the share of the plain matMul rate a whole train step reaches. */
  vsMatMul: number;
  samples: number[];
}

export interface EngineBench {
  backend: string;
  model: string;
  batch: number;
  steps: number;
  /** Text FMs: tokens per example (0 for images). */
  textLength: number;
  repeats: number;
  /** Plain 2-D matMul of the FFN's first product's shape ([batch*tokens, d] x [d, d_ff]); best of the repeats. */
  matMulGflops: number;
  matMulMedianGflops: number;
  matMulSamples: number[];
  /** Every weight trains; FLOPs = 3 x 2 x forward MACs (forward, input and weight gradients). null: not timed (a random:<shape> FM). */
  fullStep: StepSummary | null;
  /** LoRA rank 8 on q, k, v, output (+ head); FLOPs = 2 x 2 x forward MACs (LoRA's weight gradients are not counted). */
  loraStep: StepSummary;
}

/** Seconds of plain matMuls per ceiling sample: a few milliseconds' worth swung by 3x on a shared machine. */
const MATMUL_SECONDS = 0.5;

/**
 * Engine throughput for the FM in `modelDir` (its config only) on this thread's backend: each
 * repeat measures the plain matMul, a full train step and a LoRA train step once. The ratios
 * are quotients of the best repeat of each: on a shared machine other work only ever slows a
 * sample down, so the best repeat is the closest to the engine's own speed, for the ceiling and
 * the step alike (medians are kept beside them).
 */
export async function benchEngine(modelDir: string, backend: BackendChoice, batch: number, steps: number, repeats = 1, kernels?: KernelChoice, timeFullStep = true): Promise<EngineBench> {
  const info = await initBackend(backend, kernels);
  const cfg = readModelConfig(modelDir);
  // Text FMs: 128-token inputs (or the FM's positions if fewer).
  const textLength = isText(cfg) ? Math.min(TEXT_LENGTH, maxSequenceLength(cfg)) : 0;
  const tokens = batch * tokensPerExample(cfg, tokenFeatureSize(textLength));
  const mm: number[] = [];
  const full: Array<{ gflops: number; msPerStep: number }> = [];
  const lora: Array<{ gflops: number; msPerStep: number }> = [];
  for (let r = 0; r < repeats; r++) {
    // The FFN's first product is the largest plain matMul of a step: the fair ceiling.
    mm.push(await measureMatMul(tokens, cfg.hiddenSize, cfg.intermediateSize, MATMUL_SECONDS));
    if (timeFullStep) full.push(await measureTrainStep(cfg, batch, steps, null, textLength));
    lora.push(await measureTrainStep(cfg, batch, steps, { rank: 8 }, textLength));
  }
  const matMulGflops = Math.max(...mm);
  const summary = (xs: Array<{ gflops: number; msPerStep: number }>): StepSummary => {
    const best = xs.reduce((p, x) => (x.gflops > p.gflops ? x : p));
    return { gflops: best.gflops, msPerStep: best.msPerStep, medianGflops: median(xs.map((x) => x.gflops)), vsMatMul: best.gflops / matMulGflops, samples: xs.map((x) => x.gflops) };
  };
  return {
    backend: backendLabel(info),
    model: modelDir,
    batch,
    steps,
    textLength,
    repeats,
    matMulGflops,
    matMulMedianGflops: median(mm),
    matMulSamples: mm,
    fullStep: full.length > 0 ? summary(full) : null,
    loraStep: summary(lora),
  };
}

/** The same bench in a child process with the wasm kernel fixes switched off. */
export function benchEngineStock(modelDir: string, batch: number, steps: number, repeats = 1): EngineBench {
  const cli = compiled('../../cli.js');
  const args = [cli, 'bench', '--sections', 'engine', '--model', modelDir, '--backend', 'wasm', '--batch', String(batch), '--steps', String(steps), '--repeats', String(repeats), '--json-only', '--no-compare'];
  const out = execFileSync(process.execPath, args, {
    env: { ...process.env, FEDPFT_WASM_KERNEL_FIXES: 'off' },
    maxBuffer: 16 * 1024 * 1024,
  });
  const engine = (JSON.parse(out.toString()) as { engine: Array<{ project: EngineBench }> }).engine[0];
  if (!engine) throw new Error(`stock-kernel engine bench of ${modelDir} printed no engine result`);
  return engine.project;
}
