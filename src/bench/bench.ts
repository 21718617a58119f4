import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { isText, readModelConfig, tokensPerExample } from '../model/encoder.js';
import { maxSequenceLength } from '../model/bert.js';
import { initBackend, type BackendChoice } from '../tensor/backend.js';
import { median } from './common.js';
import { measureMatMul, measureTrainStep } from './train-step.js';

const TEXT_LENGTH = 128;

export interface StepSummary {
  /** Median over the repeats. */
  gflops: number;
  msPerStep: number;
  /** gflops / matMulGflops: the share of the plain matMul rate a whole train step reaches. */
  vsMatMul: number;
  samples: number[];
}

export interface EngineBench {
  backend: string;
  model: string;
  batch: number;
  steps: number;
  repeats: number;
  /** Plain 2-D matMul of the FFN's first product's shape ([batch*tokens, d] x [d, d_ff]); median. */
  matMulGflops: number;
  matMulSamples: number[];
  /** Every weight trains; FLOPs = 3 x 2 x forward MACs (forward, input and weight gradients). */
  fullStep: StepSummary;
  /** LoRA rank 8 on q, k, v, output (+ head); FLOPs = 2 x 2 x forward MACs (LoRA's weight gradients are not counted). */
  loraStep: StepSummary;
}

/**
 * Engine throughput for the FM in `modelDir` (its config only) on this thread's backend: each
 * repeat measures the plain matMul, a full train step and a LoRA train step once; medians are
 * reported, and the ratios are quotients of those medians.
 */
export async function benchEngine(modelDir: string, backend: BackendChoice, batch: number, steps: number, repeats = 1): Promise<EngineBench> {
  const info = await initBackend(backend);
  const cfg = readModelConfig(modelDir);
  // Text FMs: 128-token inputs (or the FM's positions if fewer).
  const textLength = isText(cfg) ? Math.min(TEXT_LENGTH, maxSequenceLength(cfg)) : 0;
  const tokens = batch * tokensPerExample(cfg, 2 * textLength);
  const mm: number[] = [];
  const full: Array<{ gflops: number; msPerStep: number }> = [];
  const lora: Array<{ gflops: number; msPerStep: number }> = [];
  for (let r = 0; r < repeats; r++) {
    // The FFN's first product is the largest plain matMul of a step: the fair ceiling.
    mm.push(measureMatMul(tokens, cfg.hiddenSize, cfg.intermediateSize, 10));
    full.push(measureTrainStep(cfg, batch, steps, null, textLength));
    lora.push(measureTrainStep(cfg, batch, steps, { rank: 8 }, textLength));
  }
  const matMulGflops = median(mm);
  const summary = (xs: Array<{ gflops: number; msPerStep: number }>): StepSummary => {
    const gflops = median(xs.map((x) => x.gflops));
    return { gflops, msPerStep: median(xs.map((x) => x.msPerStep)), vsMatMul: gflops / matMulGflops, samples: xs.map((x) => x.gflops) };
  };
  return { backend: info.name, model: modelDir, batch, steps, repeats, matMulGflops, matMulSamples: mm, fullStep: summary(full), loraStep: summary(lora) };
}

/** The same bench in a child process with the wasm kernel fixes switched off. */
export function benchEngineStock(modelDir: string, batch: number, steps: number, repeats = 1): EngineBench {
  const cli = fileURLToPath(new URL('../cli.js', import.meta.url));
  const args = [cli, 'bench', '--sections', 'engine', '--model', modelDir, '--backend', 'wasm', '--batch', String(batch), '--steps', String(steps), '--repeats', String(repeats), '--json-only', '--no-compare'];
  const out = execFileSync(process.execPath, args, {
    env: { ...process.env, FEDPFT_WASM_KERNEL_FIXES: 'off' },
    maxBuffer: 16 * 1024 * 1024,
  });
  const engine = (JSON.parse(out.toString()) as { engine: Array<{ project: EngineBench }> }).engine[0];
  if (!engine) throw new Error(`stock-kernel engine bench of ${modelDir} printed no engine result`);
  return engine.project;
}
