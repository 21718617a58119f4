/**
 * Runs a grid one run after another on one shared client pool, into
 * results/<grid>/<run>/ with results/<grid>/grid.json listing the runs. Started again, a grid
 * skips its finished runs (summary.json), resumes its interrupted ones from their checkpoint and
 * starts the rest; a run is bit-identical to running its scenario alone with `fedpft run`.
 */
import { existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { sameExperiment } from '../results/scenario-inputs.js';
import type { ClientHost } from '../run/client-host.js';
import { runScenario, type ClientHosts } from '../run/run-scenario.js';
import type { Scenario } from '../scenario/schema.js';
import type { KernelSet } from '../tensor/backend-choices.js';
import { writeFileAtomic } from '../util/atomic-write.js';
import { lockDir } from '../util/dir-lock.js';
import { RunStoppedError, UserError } from '../util/errors.js';
import { axisLabel, type GridSpec } from './grid.js';

export const GRID_FILE = 'grid.json';

export interface GridFile {
  kind: string;
  name: string;
  scenarioFile: string;
  axes: Array<{ label: string; field: string; values: unknown[] }>;
  seeds: number;
  runs: Array<{ name: string; settings: Record<string, unknown>; seed: number }>;
}

export interface GridRunOptions {
  kind: 'ablate' | 'sweep';
  grid: GridSpec;
  /** results/<gridName>/ holds the runs. */
  gridName: string;
  resultsRoot: string;
  /** Stop (as a kill would, but cleanly) once this many runs have finished in this call. */
  stopAfterRuns?: number;
  log?: (line: string) => void;
  hosts: ClientHosts;
}

export interface GridOutcome {
  dir: string;
  /** Runs that finished in this call. */
  ran: string[];
  /** Runs found finished and left alone. */
  skipped: string[];
  /** Runs that a scenario rule stopped (e.g. faults.onDivergence: stop). */
  stopped: string[];
  /** Runs not finished when this call returned (after --stop-after-runs). */
  pending: string[];
}

/** Scenario equality as `fedpft run --resume` checks it: runtime and the paths of unchanged files may differ. */
function sameScenario(runDir: string, b: Scenario): boolean {
  const env = join(runDir, 'environment.json');
  const inputs = existsSync(env) ? (readJsonFile(env) as { inputs?: unknown }).inputs : undefined;
  return sameExperiment(readJsonFile(join(runDir, 'scenario.json')), inputs, b);
}

function readJsonFile(file: string): unknown {
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as unknown;
  } catch (err) {
    throw new UserError(file, '', `cannot read (${(err as Error).message.split('\n')[0]})`);
  }
}

/** grid.json keeps every run ever listed in this grid directory, the latest entry per name. */
function writeGridFile(dir: string, opts: GridRunOptions): void {
  const file = join(dir, GRID_FILE);
  const previous = existsSync(file) ? (readJsonFile(file) as Partial<GridFile>) : {};
  const runs = new Map<string, GridFile['runs'][number]>();
  for (const r of Array.isArray(previous.runs) ? previous.runs : []) if (r && typeof r.name === 'string') runs.set(r.name, r);
  for (const p of opts.grid.points) runs.set(p.name, { name: p.name, settings: p.settings, seed: p.seed });
  const grid: GridFile = {
    kind: opts.kind,
    name: opts.gridName,
    scenarioFile: resolve(opts.grid.file),
    axes: opts.grid.axes.map((a) => ({ label: axisLabel(a.field), field: a.field, values: a.values })),
    seeds: opts.grid.seeds,
    runs: [...runs.values()],
  };
  writeFileAtomic(file, JSON.stringify(grid, null, 2) + '\n');
}

/**
 * A grid's runs are compared with each other, so they run one kernel set: the one its existing
 * runs recorded (runs from before kernel sets ran exact). `auto` takes it; another set is refused.
 */
function keepGridKernels(dir: string, points: Array<{ name: string; scenario: Scenario }>, state: ReadonlyArray<'new' | 'started' | 'finished'>): void {
  const ran = new Set<KernelSet>();
  points.forEach((p, i) => {
    if (state[i] !== 'new') ran.add((readJsonFile(join(dir, p.name, 'scenario.json')) as { runtime?: { kernels?: KernelSet } }).runtime?.kernels ?? 'exact');
  });
  if (ran.size > 1) throw new UserError(dir, '', `its runs ran different kernel sets (${[...ran].sort().join(' and ')}); pass --name to start another grid`);
  const [set] = ran;
  if (set === undefined) return;
  for (const p of points) {
    const asked = p.scenario.runtime.kernels;
    if (asked === 'auto') p.scenario = { ...p.scenario, runtime: { ...p.scenario.runtime, kernels: set } };
    else if (asked !== set) throw new UserError(dir, '', `this grid's runs ran the ${set} kernel set and this call asks for ${asked}; pass --kernels ${set}, or --name to start another grid`);
  }
}

export async function runGrid(opts: GridRunOptions): Promise<GridOutcome> {
  const log = opts.log ?? ((line: string) => console.log(line));
  const dir = join(opts.resultsRoot, opts.gridName);
  const points = opts.grid.points.map((p) => ({ ...p, scenario: { ...p.scenario, name: opts.gridName } }));
  // Every finished run must match its grid point before anything starts.
  const state = points.map((p) => {
    const runDir = join(dir, p.name);
    if (!existsSync(join(runDir, 'scenario.json'))) return 'new' as const;
    if (!sameScenario(runDir, p.scenario)) {
      throw new UserError(join(runDir, 'scenario.json'), '', 'this run has another scenario than the grid point of its name (the scenario file changed?); pass --name to start another grid');
    }
    return existsSync(join(runDir, 'summary.json')) ? ('finished' as const) : ('started' as const);
  });
  keepGridKernels(dir, points, state);
  mkdirSync(dir, { recursive: true });
  const unlock = lockDir(dir, 'grid');
  try {
    writeGridFile(dir, opts);
  } catch (err) {
    unlock();
    throw err;
  }

  const outcome: GridOutcome = { dir, ran: [], skipped: [], stopped: [], pending: [] };
  let shared: ClientHost | null = null;
  try {
    for (const [i, p] of points.entries()) {
      const tag = `[${i + 1}/${points.length}] ${p.name}`;
      const runDir = join(dir, p.name);
      if (state[i] === 'finished') {
        log(`${tag}: finished earlier, skipped`);
        outcome.skipped.push(p.name);
        continue;
      }
      if (opts.stopAfterRuns !== undefined && outcome.ran.length >= opts.stopAfterRuns) {
        outcome.pending.push(p.name);
        continue;
      }
      // Killed before it wrote scenario.json: nothing in it can be resumed.
      if (state[i] === 'new' && existsSync(runDir)) rmSync(runDir, { recursive: true, force: true });
      const key = opts.hosts.key(p.scenario);
      if (shared?.key !== key) {
        await shared?.close();
        shared = null;
        shared = await opts.hosts.open(p.scenario);
      }
      log(`${tag}: ${state[i] === 'started' ? 'resuming' : 'starting'}`);
      try {
        await runScenario({
          scenario: p.scenario,
          resultsRoot: opts.resultsRoot,
          runId: p.name,
          ...(state[i] === 'started' ? { resume: p.name } : {}),
          host: shared,
          hosts: opts.hosts,
          log,
        });
        outcome.ran.push(p.name);
      } catch (err) {
        if (!(err instanceof RunStoppedError)) throw err;
        log(`${tag}: stopped: ${err.message}`);
        outcome.stopped.push(p.name);
      }
    }
  } finally {
    await shared?.close();
    unlock();
  }
  if (outcome.pending.length > 0) log(`stopped after ${outcome.ran.length} runs (--stop-after-runs); ${outcome.pending.length} left: run the same command again to continue`);
  return outcome;
}
