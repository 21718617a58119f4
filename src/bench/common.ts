import { existsSync, writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { stringify } from 'yaml';
import { parseScenario } from '../scenario/load.js';
import type { Scenario } from '../scenario/schema.js';
import type { BackendChoice } from '../tensor/backend.js';
import type { KernelChoice } from '../tensor/backend-choices.js';

/** Median of a non-empty list (mean of the middle two for even lengths). */
export function median(xs: readonly number[]): number {
  if (xs.length === 0) throw new Error('median of an empty list');
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? (s[mid] as number) : ((s[mid - 1] as number) + (s[mid] as number)) / 2;
}

/** The 1-minute load average, recorded before and after each section so disturbed numbers can be told apart. */
export function load1(): number {
  return loadavg()[0] as number;
}

/**
 * A compiled file next to this module, or its dist/ twin when this module runs from source
 * (vitest): worker threads and child processes need JavaScript.
 */
export function compiled(relative: string): string {
  const candidates = [new URL(relative, import.meta.url), new URL(`../../dist/src/bench/${relative}`, import.meta.url)].map((u) => fileURLToPath(u));
  const found = candidates.find((f) => existsSync(f));
  if (!found) throw new Error(`${candidates[0]} is missing: build first (npx tsc -p tsconfig.json)`);
  return found;
}

export interface BenchScenario {
  name: string;
  modelDir: string;
  backend: BackendChoice;
  workers: number;
  dataset: 'mnist' | 'fashion-mnist' | 'spam';
  /** Text datasets: tokens per example. */
  maxLength?: number;
  trainLimit?: number;
  evalLimit?: number;
  partition: { family: 'iid' } | { family: 'dirichlet'; alpha: number };
  clients: number;
  clientsPerRound: number;
  rounds: number;
  evalEvery: number;
  batchSize: number;
  method: Record<string, unknown>;
  seed?: number;
}

/** FedPETuning as in scenarios/methods/fedpetuning.yaml (and the quickstart). */
export const FEDPETUNING = { name: 'fedpetuning', lora: { rank: 8, alpha: 16, dropout: 0.1 } };

/** A generated scenario as the object a YAML file would hold. */
export function scenarioObject(s: BenchScenario): Record<string, unknown> {
  return {
    name: s.name,
    seed: s.seed ?? 42,
    model: { dir: resolve(s.modelDir) },
    task: {
      dataset: s.dataset,
      ...(s.trainLimit ? { trainLimit: s.trainLimit } : {}),
      ...(s.evalLimit ? { evalLimit: s.evalLimit } : {}),
      ...(s.maxLength ? { maxLength: s.maxLength } : {}),
    },
    partition: s.partition,
    federation: {
      clients: s.clients,
      clientsPerRound: s.clientsPerRound,
      rounds: s.rounds,
      localEpochs: 1,
      batchSize: s.batchSize,
      learningRate: 0.005,
      schedule: 'linear',
      weightDecay: 0.01,
      aggregation: 'weighted',
      evalEvery: s.evalEvery,
    },
    method: s.method,
    runtime: { workers: s.workers, backend: s.backend, kernels: benchKernels },
  };
}

/** The kernel set of every scenario the bench generates (runs, actors and child processes alike). */
let benchKernels: KernelChoice = 'auto';

export function useBenchKernels(kernels: KernelChoice): void {
  benchKernels = kernels;
}

/** The generated scenario through the project's own loader (validation and defaults included). */
export function benchScenario(s: BenchScenario): Scenario {
  return parseScenario(stringify(scenarioObject(s)), `bench:${s.name}`);
}

/** Writes the generated scenario as YAML into `dir` and returns the file. */
export function writeBenchScenario(dir: string, s: BenchScenario): string {
  const file = join(dir, `${s.name}.yaml`);
  writeFileSync(file, stringify(scenarioObject(s)));
  return file;
}

/** One measured value beside its target. */
export interface TargetCheck {
  id: string;
  /** The FM measured, for the per-FM targets (engine, methods). */
  model?: string;
  description: string;
  value: number;
  op: '>=' | '<=';
  threshold: number;
  pass: boolean;
}

export function check(id: string, description: string, value: number, op: '>=' | '<=', threshold: number, model?: string): TargetCheck {
  return { id, ...(model ? { model } : {}), description, value, op, threshold, pass: op === '>=' ? value >= threshold : value <= threshold };
}

/** The bench's sections, in the order they run. */
export const BENCH_SECTIONS = ['engine', 'methods', 'pool', 'overhead', 'memory'] as const;
export type BenchSection = (typeof BENCH_SECTIONS)[number];
