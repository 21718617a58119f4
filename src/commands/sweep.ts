import type { BackendChoice, KernelChoice } from '../tensor/backend-choices.js';
import type { Command } from 'commander';
import type { CommandContext } from './context.js';
import type { ActorHostChoice } from '../scenario/actor-hosts.js';
import { ACTORS_HELP, actorsOption, BACKEND_HELP, backendOption, DEFAULT_SCENARIO, KERNELS_HELP, kernelsOption, positiveInt } from './options.js';

export function registerSweep(program: Command, ctx: CommandContext): void {
  program
    .command('sweep')
    .description("run a grid of a scenario's settings (its sweep: section and --set) times --seeds seeds into results/<name>/<run>/, sharing one worker pool; started again, it skips finished runs and resumes interrupted ones")
    .argument('[scenario]', 'scenario YAML file, optionally with a sweep: { set: { field: [values] }, seeds, name } section', DEFAULT_SCENARIO)
    .option('--set <field=values>', 'vary a dotted field over comma-separated values, e.g. method.interval=5,10,20 (repeatable; replaces the file\'s values for that field)', (v: string, prev: string[]) => [...prev, v], [] as string[])
    .option('--seeds <k>', "seeds per grid point: scenario.seed + 0 .. k-1 (default: sweep.seeds, or 1)", positiveInt('--seeds'))
    .option('--name <grid>', "the grid's directory under --results (default: sweep.name, or <scenario>-sweep)")
    .option('--results <dir>', 'results root', 'results')
    .option('--workers <n>', 'client actors (overrides runtime.workers)', positiveInt('--workers'))
    .option('--backend <name>', `${BACKEND_HELP} (overrides runtime.backend)`, backendOption)
    .option('--actors <host>', ACTORS_HELP, actorsOption)
    .option('--kernels <set>', `${KERNELS_HELP} (overrides runtime.kernels)`, kernelsOption)
    .option('--stop-after-runs <n>', 'stop once this many runs have finished in this call (to test restarts)', positiveInt('--stop-after-runs'))
    .option('--no-report', 'do not write the report when the grid is complete')
    .action(async (file: string, opts: { set: string[]; seeds?: number; name?: string; results: string; workers?: number; backend?: BackendChoice; actors?: ActorHostChoice; kernels?: KernelChoice; stopAfterRuns?: number; report: boolean }) => {
      const { readScenarioSource, expandGrid, mergeAxes } = await import('../experiments/grid.js');
      const { applyRuntime, checkGridName, parseSets, runGridCommand } = await import('../experiments/command.js');
      const source = await readScenarioSource(file);
      const fromCli = parseSets(opts.set);
      const fileOrigin = `${file} sweep.set`;
      const axes = mergeAxes(source.sweep.axes, fromCli);
      const cliFields = new Set(fromCli.map((a) => a.field));
      const grid = expandGrid(source, axes, opts.seeds ?? source.sweep.seeds ?? 1, (field) => (cliFields.has(field) ? '--set' : fileOrigin));
      applyRuntime(grid, opts);
      const name = checkGridName(opts.name ?? source.sweep.name ?? `${grid.base.name}-sweep`);
      await runGridCommand('sweep', grid, name, opts, ctx.hosts);
    });
}
