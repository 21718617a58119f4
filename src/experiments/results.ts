/**
 * Reading runs back for `fedpft report`: a run directory (scenario.json, rounds.jsonl,
 * summary.json when finished), or any directory above runs (a grid, a scenario's results,
 * the results root).
 */
import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import type { RunSummary } from '../report/summary-table.js';
import type { RoundRecord } from '../results/run-dir.js';
import type { Scenario } from '../scenario/schema.js';
import { UserError } from '../util/errors.js';

export interface RunResult {
  dir: string;
  /** The run directory's name. */
  name: string;
  scenario: Scenario;
  /** null while the run is unfinished. */
  summary: RunSummary | null;
  rounds: RoundRecord[];
  /** Client sizes from partition.json, when the run recorded it. */
  partitionSizes: number[] | null;
  /** The sha256 of the files the scenario names (environment.json's `inputs`), when recorded. */
  inputs: Record<string, string> | null;
}

/** How deep below a given directory runs are looked for (results root / scenario or grid / run). */
const MAX_DEPTH = 3;

function isDir(path: string): boolean {
  try {
    return statSync(path).isDirectory();
  } catch {
    return false;
  }
}

function readJson(file: string): unknown {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new UserError(file, '', `cannot read (${(err as NodeJS.ErrnoException).code ?? String(err)})`);
  }
  try {
    return JSON.parse(text) as unknown;
  } catch (err) {
    throw new UserError(file, '', `invalid JSON (${(err as Error).message.split('\n')[0]})`);
  }
}

function runDirs(path: string, depth: number, out: string[]): void {
  if (existsSync(join(path, 'scenario.json'))) {
    out.push(path);
    return;
  }
  if (depth >= MAX_DEPTH) return;
  for (const entry of readdirSync(path).sort()) {
    if (entry.startsWith('.')) continue;
    const child = join(path, entry);
    if (isDir(child)) runDirs(child, depth + 1, out);
  }
}

export function readRun(dir: string): RunResult {
  const scenario = readJson(join(dir, 'scenario.json')) as Scenario;
  const ok =
    scenario !== null &&
    typeof scenario === 'object' &&
    typeof scenario.seed === 'number' &&
    typeof scenario.method?.name === 'string' &&
    typeof scenario.task?.dataset === 'string' &&
    typeof scenario.partition?.family === 'string' &&
    typeof scenario.federation?.clients === 'number';
  if (!ok) {
    throw new UserError(join(dir, 'scenario.json'), '', 'not a scenario written by fedpft run');
  }
  const summaryFile = join(dir, 'summary.json');
  const summary = existsSync(summaryFile) ? (readJson(summaryFile) as RunSummary) : null;
  const rounds: RoundRecord[] = [];
  const roundsFile = join(dir, 'rounds.jsonl');
  if (existsSync(roundsFile)) {
    for (const line of readFileSync(roundsFile, 'utf8').split('\n')) {
      if (!line.trim()) continue;
      try {
        rounds.push(JSON.parse(line) as RoundRecord);
      } catch {
        break;
      }
    }
  }
  const partitionFile = join(dir, 'partition.json');
  const sizes = existsSync(partitionFile) ? (readJson(partitionFile) as { sizes?: unknown }).sizes : undefined;
  const environmentFile = join(dir, 'environment.json');
  const inputs = existsSync(environmentFile) ? (readJson(environmentFile) as { inputs?: unknown }).inputs : undefined;
  const recorded = inputs !== null && typeof inputs === 'object' && Object.values(inputs).every((v) => typeof v === 'string') ? (inputs as Record<string, string>) : null;
  return { dir, name: basename(dir), scenario, summary, rounds, partitionSizes: Array.isArray(sizes) ? (sizes as number[]) : null, inputs: recorded };
}

/** Every run at or below the given directories, each once, in path order. */
export function findRuns(paths: readonly string[]): RunResult[] {
  const seen = new Set<string>();
  const runs: RunResult[] = [];
  for (const path of paths) {
    if (!isDir(path)) throw new UserError(path, '', existsSync(path) ? 'not a directory, expected a results directory' : 'directory not found');
    const found: string[] = [];
    runDirs(path, 0, found);
    if (found.length === 0) throw new UserError(path, '', 'no runs found (expected a run directory with scenario.json, or a directory above runs)');
    for (const dir of found) {
      const key = resolve(dir);
      if (seen.has(key)) continue;
      seen.add(key);
      runs.push(readRun(dir));
    }
  }
  return runs;
}

/** A scenario as dotted fields and leaf values (lists stay whole). */
export function flatten(value: unknown, prefix = '', out: Map<string, unknown> = new Map()): Map<string, unknown> {
  if (value !== null && typeof value === 'object' && !Array.isArray(value)) {
    for (const [k, v] of Object.entries(value as Record<string, unknown>)) flatten(v, prefix ? `${prefix}.${k}` : k, out);
  } else if (prefix) {
    out.set(prefix, value);
  }
  return out;
}
