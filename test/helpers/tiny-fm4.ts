import { tinyVit } from './kit.js';
import { makeTinyFm } from './tiny-run.js';

/**
 * The 4-layer tiny FM the method tests use: with the default retained layers (first and last)
 * FedPFT compresses layers 1 and 2, and FedOT (a = 1) has a middle of 2 layers to layer-drop.
 */
export const TINY_FM4 = tinyVit({ numHiddenLayers: 4, intermediateSize: 64 });

/** Writes TINY_FM4, randomly initialised (seeded), in HF layout; see makeTinyFm. */
export function makeTinyFm4(dir: string): Promise<void> {
  return makeTinyFm(dir, TINY_FM4, 'tiny-fm4');
}

/** YAML written unindented (a method section), indented to sit under a key. */
export function indented(yaml: string): string {
  return yaml
    .trim()
    .split('\n')
    .map((line) => `  ${line}`)
    .join('\n');
}

/** The methods' tiny scenario: 8 clients, 3 per round, 4 rounds, alignment every 2 rounds. */
export function tinyMethodScenario(fmDir: string, method: string, name = 'tiny4'): string {
  return `name: ${name}
seed: 11
model:
  dir: ${fmDir}
task:
  dataset: mnist
  trainLimit: 300
  evalLimit: 100
partition:
  family: iid
federation:
  clients: 8
  clientsPerRound: 3
  rounds: 4
  batchSize: 16
  learningRate: 0.01
  evalEvery: 2
method:
${indented(method)}
runtime:
  backend: wasm
  kernels: exact
`;
}

/**
 * Method sections (YAML, unindented) with small distillation and alignment budgets. They distil
 * on fashion-mnist: distilling on the task's own dataset (the clients' data) is refused.
 */
export const METHOD_YAML = {
  fedpetuning: `name: fedpetuning
lora: { rank: 2, alpha: 4, dropout: 0.1 }`,
  fedot: `name: fedot
lora: { rank: 2, alpha: 4, dropout: 0.1 }
adapterLayers: 1
emulatorLayers: 1
distill: { dataset: fashion-mnist, examples: 200, steps: 5, batchSize: 16 }`,
  fedpft: (name = 'fedpft') => `name: ${name}
lora: { rank: 2, alpha: 4, dropout: 0.1 }
keep: 0.25
distill: { dataset: fashion-mnist, examples: 200, steps: 5, batchSize: 16 }
interval: 2
proportion: 0.5
align: { steps: 3, batchSize: 16, probeExamples: 16 }`,
};
