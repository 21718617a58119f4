/**
 * What `fedpft ablate` and `fedpft sweep` share: runtime flags, running the grid and printing
 * its report. Heavy modules (tfjs, the server) load only once a command runs.
 */
import type { ClientHosts } from '../run/run-scenario.js';
import type { ActorHostChoice } from '../scenario/actor-hosts.js';
import type { BackendChoice, KernelChoice } from '../tensor/backend-choices.js';
import { overrideActors } from '../commands/options.js';
import { RunStoppedError, UserError } from '../util/errors.js';
import { NAME, parseSetOption, type Axis, type GridSpec } from './grid.js';

export interface GridCommandOptions {
  seeds?: number;
  set: string[];
  name?: string;
  results: string;
  workers?: number;
  backend?: BackendChoice;
  actors?: ActorHostChoice;
  kernels?: KernelChoice;
  stopAfterRuns?: number;
  report?: boolean;
}

/** `--set field=v1,v2` options as axes; a field may be given once. */
export function parseSets(specs: readonly string[]): Axis[] {
  const axes: Axis[] = [];
  for (const spec of specs) {
    const axis = parseSetOption(spec);
    if (axes.some((a) => a.field === axis.field)) throw new UserError('--set', axis.field, 'given twice; list all its values in one --set');
    axes.push(axis);
  }
  return axes;
}

export function checkGridName(name: string): string {
  if (!NAME.test(name)) throw new UserError('--name', '', `expected a name made of letters, digits, ".", "_" and "-", got ${JSON.stringify(name)}`);
  return name;
}

/** --workers, --backend, --actors and --kernels apply to every run; only --kernels changes results (a run records its set). */
export function applyRuntime(grid: GridSpec, opts: Pick<GridCommandOptions, 'workers' | 'backend' | 'actors' | 'kernels'>): void {
  for (const p of grid.points) {
    if (opts.workers) p.scenario.runtime.workers = opts.workers;
    if (opts.backend) p.scenario.runtime.backend = opts.backend;
    if (opts.actors) overrideActors(p.scenario.runtime, opts.actors, grid.base.name);
    if (opts.kernels) p.scenario.runtime.kernels = opts.kernels;
  }
}

export async function runGridCommand(kind: 'ablate' | 'sweep', grid: GridSpec, gridName: string, opts: GridCommandOptions, hosts: ClientHosts): Promise<void> {
  const { runGrid } = await import('./runner.js');
  console.log(`${kind} ${gridName}: ${grid.points.length} runs (${grid.axes.map((a) => `${a.field} = ${a.values.map((v) => JSON.stringify(v)).join(', ')}`).join('; ') || 'the scenario'}; ${grid.seeds} seed${grid.seeds === 1 ? '' : 's'})`);
  const outcome = await runGrid({ kind, grid, gridName, resultsRoot: opts.results, hosts, ...(opts.stopAfterRuns !== undefined ? { stopAfterRuns: opts.stopAfterRuns } : {}) });
  if (outcome.pending.length === 0 && (opts.report ?? true)) {
    const { writeReport } = await import('./report.js');
    writeReport({ paths: [outcome.dir], out: outcome.dir });
  }
  if (outcome.stopped.length > 0) throw new RunStoppedError(`${outcome.stopped.length} of ${grid.points.length} runs stopped: ${outcome.stopped.join(', ')}`);
}
