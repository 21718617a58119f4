import type { BackendChoice, KernelChoice } from '../tensor/backend-choices.js';
import type { Command } from 'commander';
import type { CommandContext } from './context.js';
import type { ActorHostChoice } from '../scenario/actor-hosts.js';
import { ACTORS_HELP, actorsOption, BACKEND_HELP, backendOption, DEFAULT_SCENARIO, KERNELS_HELP, kernelsOption, positiveInt } from './options.js';

export function registerAblate(program: Command, ctx: CommandContext): void {
  program
    .command('ablate')
    .description('run a scenario under each of a set of methods (and --seeds seeds) into results/<name>/<run>/, sharing one worker pool; started again, it skips finished runs and resumes interrupted ones')
    .argument('[scenario]', 'scenario YAML file', DEFAULT_SCENARIO)
    .option('--methods <list>', 'comma-separated methods; each keeps the lora, distill and other settings of the scenario\'s method that it has, the rest from defaults (default: every built-in method, in the report\'s order)')
    .option('--seeds <k>', 'seeds per method: scenario.seed + 0 .. k-1', positiveInt('--seeds'), 1)
    .option('--set <field=values>', 'also vary a dotted field over comma-separated values (repeatable)', (v: string, prev: string[]) => [...prev, v], [] as string[])
    .option('--name <grid>', "the grid's directory under --results (default: <scenario>-ablate)")
    .option('--results <dir>', 'results root', 'results')
    .option('--workers <n>', 'client actors (overrides runtime.workers)', positiveInt('--workers'))
    .option('--backend <name>', `${BACKEND_HELP} (overrides runtime.backend)`, backendOption)
    .option('--actors <host>', ACTORS_HELP, actorsOption)
    .option('--kernels <set>', `${KERNELS_HELP} (overrides runtime.kernels)`, kernelsOption)
    .option('--stop-after-runs <n>', 'stop once this many runs have finished in this call (to test restarts)', positiveInt('--stop-after-runs'))
    .option('--no-report', 'do not write the report when the grid is complete')
    .action(async (file: string, opts: { methods?: string; seeds: number; set: string[]; name?: string; results: string; workers?: number; backend?: BackendChoice; actors?: ActorHostChoice; kernels?: KernelChoice; stopAfterRuns?: number; report: boolean }) => {
      const { readScenarioSource, expandGrid, mergeAxes } = await import('../experiments/grid.js');
      const { applyRuntime, checkGridName, parseSets, runGridCommand } = await import('../experiments/command.js');
      const { UserError } = await import('../util/errors.js');
      const { BUILTIN_METHOD_NAMES } = await import('../methods/registry.js');
      const list = opts.methods ?? BUILTIN_METHOD_NAMES.join(',');
      const methods = list.split(',').map((m) => m.trim());
      if (methods.some((m) => m === '')) throw new UserError('--methods', '', `expected a comma-separated list of methods, got ${JSON.stringify(list)}`);
      if (new Set(methods).size !== methods.length) throw new UserError('--methods', '', `a method is listed twice in ${JSON.stringify(list)}`);
      const source = await readScenarioSource(file);
      const axes = mergeAxes([{ field: 'method.name', values: methods }], parseSets(opts.set));
      const grid = expandGrid(source, axes, opts.seeds, (field) => (field === 'method.name' ? '--methods' : '--set'));
      applyRuntime(grid, opts);
      const name = checkGridName(opts.name ?? `${grid.base.name}-ablate`);
      await runGridCommand('ablate', grid, name, opts, ctx.hosts);
    });
}
