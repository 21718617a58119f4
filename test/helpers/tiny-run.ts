import { execFile } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import type { VitConfig } from '../../src/model/vit.js';
import { tinyBert, tinyVit } from './kit.js';

/** kernels.test.ts still imports the metrics reader from here. */

export const REPO = fileURLToPath(new URL('../..', import.meta.url));
export const CLI = join(REPO, 'dist/cli.js');

const run = promisify(execFile);

/** Runs the built CLI; resolves with exit code and output instead of throwing on failure. */
export async function cli(args: string[], cwd = REPO, env?: NodeJS.ProcessEnv): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run(process.execPath, [CLI, ...args], { cwd, maxBuffer: 64 * 1024 * 1024, ...(env ? { env: { ...process.env, ...env } } : {}) });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code?: number; stdout?: string; stderr?: string };
    return { code: typeof e.code === 'number' ? e.code : -1, stdout: e.stdout ?? '', stderr: e.stderr ?? '' };
  }
}

/**
 * A tiny randomly initialised (seeded by `rngKey`) ViT FM in HF layout (by default tinyVit(): 2
 * layers, d = 16, for MNIST-shaped images), written by the project's own code in a child process
 * (so this test file's process keeps no tfjs backend).
 */
export async function makeTinyFm(dir: string, cfg: VitConfig = tinyVit(), rngKey = 'tiny-fm'): Promise<void> {
  const script = `
    const { initBackend } = await import(${JSON.stringify(join(REPO, 'dist/src/tensor/backend.js'))});
    await initBackend('cpu');
    const { initVitParams } = await import(${JSON.stringify(join(REPO, 'dist/src/model/vit.js'))});
    const { saveVit } = await import(${JSON.stringify(join(REPO, 'dist/src/model/vit-checkpoint.js'))});
    const { Rng } = await import(${JSON.stringify(join(REPO, 'dist/src/util/rng.js'))});
    const cfg = ${JSON.stringify(cfg)};
    await saveVit(${JSON.stringify(dir)}, cfg, initVitParams(cfg, new Rng(${JSON.stringify(rngKey)})), Array.from({ length: 10 }, (_, i) => 'c' + i));
  `;
  await run(process.execPath, ['--input-type=module', '-e', script]);
}

export function tinyScenario(fmDir: string, overrides = ''): string {
  return `name: tiny
seed: 7
model:
  dir: ${fmDir}
task:
  dataset: mnist
  trainLimit: 480
  evalLimit: 200
partition:
  family: dirichlet
  alpha: 0.5
federation:
  clients: 12
  clientsPerRound: 4
  rounds: 4
  batchSize: 16
  learningRate: 0.01
  evalEvery: 2
method:
  name: fedpetuning
  lora: { rank: 4, alpha: 8, dropout: 0.1 }
runtime:
  backend: wasm
  kernels: exact
${overrides}`;
}

export function tempDir(prefix: string): string {
  return mkdtempSync(join(tmpdir(), `fedpft-${prefix}-`));
}

export function writeScenario(dir: string, text: string, name = 'tiny.yaml'): string {
  const file = join(dir, name);
  writeFileSync(file, text);
  return file;
}

/**
 * A tiny randomly initialised BERT FM (4 layers, d = 16, d_ff = 32, 32 positions) with a 400-token
 * WordPiece tokenizer trained on the first spam training e-mails and Moby-Dick paragraphs,
 * written in HF layout with tokenizer.json, in a child process.
 */
export async function makeTinyTextFm(dir: string, rngKey = 'tiny-text-fm'): Promise<void> {
  const mod = (p: string) => JSON.stringify(join(REPO, 'dist/src', p));
  const script = `
    const { initBackend } = await import(${mod('tensor/backend.js')});
    await initBackend('cpu');
    const { initBertParams } = await import(${mod('model/bert.js')});
    const { saveBert } = await import(${mod('model/bert-checkpoint.js')});
    const { unlabelledText } = await import(${mod('text/datasets.js')});
    const { trainWordPiece, writeTokenizerJson, TextTokenizer } = await import(${mod('text/tokenizer.js')});
    const { Rng } = await import(${mod('util/rng.js')});
    const texts = [...unlabelledText('spam-train').slice(0, 300), ...unlabelledText('moby-dick').slice(0, 100)];
    const json = trainWordPiece(texts, { vocabSize: 400 });
    const tok = TextTokenizer.fromJson(json);
    const cfg = { ...${JSON.stringify(tinyBert({ numHiddenLayers: 4, maxPositionEmbeddings: 32 }))}, vocabSize: tok.vocabSize, padTokenId: tok.padId };
    await saveBert(${JSON.stringify(dir)}, cfg, initBertParams(cfg, new Rng(${JSON.stringify(rngKey)})), ['a', 'b']);
    writeTokenizerJson(${JSON.stringify(join(dir, 'tokenizer.json'))}, json);
  `;
  await run(process.execPath, ['--input-type=module', '-e', script]);
}

export function tinyTextScenario(fmDir: string, method = 'name: fedpetuning\n  lora: { rank: 4, alpha: 8, dropout: 0.1 }', overrides = ''): string {
  return `name: tiny-text
seed: 11
model:
  dir: ${fmDir}
task:
  dataset: spam
  trainLimit: 240
  evalLimit: 120
  maxLength: 24
partition:
  family: dirichlet
  alpha: 1
federation:
  clients: 8
  clientsPerRound: 4
  rounds: 3
  batchSize: 16
  learningRate: 0.01
  evalEvery: 1
method:
  ${method}
runtime:
  backend: wasm
  kernels: exact
${overrides}`;
}
