import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { readCheckpoint } from '../model/checkpoint.js';
import { vitConfigFromHF } from '../model/vit-checkpoint.js';
import { initBackend, type BackendChoice } from '../tensor/backend.js';
import { measureMatMul, measureTrainStep } from './train-step.js';

export interface EngineBench {
  backend: string;
  model: string;
  batch: number;
  matMulGflops: number;
  fullStep: { gflops: number; msPerStep: number };
  loraStep: { gflops: number; msPerStep: number };
}

/** Engine throughput for the FM in `modelDir` (its config only) on this thread's backend. */
export async function benchEngine(modelDir: string, backend: BackendChoice, batch: number, steps: number): Promise<EngineBench> {
  const info = await initBackend(backend);
  const ckpt = readCheckpoint(modelDir);
  const cfg = vitConfigFromHF(ckpt.config, `${modelDir}/config.json`);
  const tokens = batch * ((cfg.imageSize / cfg.patchSize) ** 2 + 1);
  // The FFN's first product is the largest plain matMul of a step: the fair ceiling.
  const matMulGflops = measureMatMul(tokens, cfg.hiddenSize, cfg.intermediateSize, 10);
  const full = measureTrainStep(cfg, batch, steps, null);
  const lora = measureTrainStep(cfg, batch, steps, { rank: 8 });
  return {
    backend: info.name,
    model: modelDir,
    batch,
    matMulGflops,
    fullStep: { gflops: full.gflops, msPerStep: full.msPerStep },
    loraStep: { gflops: lora.gflops, msPerStep: lora.msPerStep },
  };
}

/** The same bench in a child process with the wasm kernel fixes switched off. */
export function benchEngineStock(modelDir: string, batch: number, steps: number): EngineBench {
  const cli = fileURLToPath(new URL('../cli.js', import.meta.url));
  const out = execFileSync(process.execPath, [cli, 'bench', '--model', modelDir, '--backend', 'wasm', '--batch', String(batch), '--steps', String(steps), '--json-only', '--no-compare'], {
    env: { ...process.env, FEDPFT_WASM_KERNEL_FIXES: 'off' },
    maxBuffer: 16 * 1024 * 1024,
  });
  return (JSON.parse(out.toString()) as { engine: EngineBench }).engine;
}
