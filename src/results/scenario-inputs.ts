/**
 * Whether a saved run and a scenario are the same experiment. A scenario names files by absolute
 * path (model.dir, task.files, method.module), so comparing paths would refuse to resume a run
 * whose checkout was moved or cloned elsewhere, and would accept one whose FM was rebuilt in
 * place. A run therefore records its files' contents (environment.json's `inputs`), and the
 * comparison uses those instead of the paths.
 */
import { createHash } from 'node:crypto';
import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { sha256File } from '../model/checkpoint.js';
import type { Scenario } from '../scenario/schema.js';
import { UserError } from '../util/errors.js';

/** The FM files a run may read (the tokenizer's only for text FMs: tokenizer.json, else vocab.txt and tokenizer_config.json). */
const MODEL_FILES = ['config.json', 'model.safetensors', 'tokenizer.json', 'vocab.txt', 'tokenizer_config.json'];

/** sha256 by field: `model.dir`, `task.files.train` (one per file), `task.files.validation`, `method.module`. */
export type ScenarioInputs = Record<string, string>;

const hashes = new Map<string, { stamp: string; sha256: string }>();

/** A file's sha256, kept while its size and modification time stay the same (a grid checks every run's). */
function fileSha256(file: string, field: string): string {
  let st: ReturnType<typeof statSync>;
  try {
    st = statSync(file);
  } catch {
    throw new UserError(file, field, 'file not found');
  }
  const stamp = `${st.size}/${st.mtimeMs}`;
  const known = hashes.get(file);
  if (known?.stamp === stamp) return known.sha256;
  const sha256 = sha256File(file);
  hashes.set(file, { stamp, sha256 });
  return sha256;
}

function modelSha256(dir: string): string {
  const h = createHash('sha256');
  for (const name of MODEL_FILES) if (existsSync(join(dir, name))) h.update(`${name} ${fileSha256(join(dir, name), 'model.dir')}\n`);
  return h.digest('hex');
}

export function scenarioInputs(s: Scenario): ScenarioInputs {
  const inputs: ScenarioInputs = { 'model.dir': modelSha256(s.model.dir) };
  const files = s.task.files;
  if (files) {
    const train = Array.isArray(files.train) ? files.train : [files.train];
    train.forEach((f, i) => (inputs[`task.files.train.${i}`] = fileSha256(f, 'task.files.train')));
    inputs['task.files.validation'] = fileSha256(files.validation, 'task.files.validation');
  }
  const module = (s.method as { module?: unknown }).module;
  if (typeof module === 'string') inputs['method.module'] = fileSha256(module, 'method.module');
  return inputs;
}

/** The scenario without what may differ between two calls of one experiment: runtime, and the paths of its files. */
function withoutPaths(s: unknown): string {
  const o = s as { model?: object; task?: { files?: unknown }; method?: { module?: unknown } };
  return JSON.stringify({
    ...o,
    runtime: null,
    model: { ...o.model, dir: null },
    task: { ...o.task, ...(o.task?.files === undefined ? {} : { files: null }) },
    method: { ...o.method, ...(o.method?.module === undefined ? {} : { module: null }) },
  });
}

/**
 * True when a run's saved scenario.json (and environment.json's `inputs`, if it has them) and
 * `current` are the same experiment. Runs from before inputs were recorded compare paths.
 */
export function sameExperiment(saved: unknown, savedInputs: unknown, current: Scenario): boolean {
  if (savedInputs === undefined || savedInputs === null || typeof savedInputs !== 'object') {
    return JSON.stringify({ ...(saved as object), runtime: null }) === JSON.stringify({ ...current, runtime: null });
  }
  if (withoutPaths(saved) !== withoutPaths(current)) return false;
  const here = scenarioInputs(current);
  const recorded = savedInputs as Record<string, unknown>;
  return Object.keys(here).length === Object.keys(recorded).length && Object.entries(here).every(([k, v]) => recorded[k] === v);
}
