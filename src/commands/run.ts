import type { BackendChoice, KernelChoice } from '../tensor/backend-choices.js';
import type { Command } from 'commander';
import type { CommandContext } from './context.js';
import { overrideActors } from './options.js';
import type { ActorHostChoice } from '../scenario/actor-hosts.js';
import { ACTORS_HELP, actorsOption, BACKEND_HELP, backendOption, DEFAULT_SCENARIO, KERNELS_HELP, kernelsOption, positiveInt } from './options.js';

export function registerRun(program: Command, ctx: CommandContext): void {
  program
    .command('run')
    .description('run a scenario (default: the quickstart) and write results/<scenario>/<run-id>/')
    .argument('[scenario]', 'scenario YAML file', DEFAULT_SCENARIO)
    .option('--resume [run-id]', 'continue an interrupted run (default: the newest unfinished one)')
    .option('--run-id <id>', 'name of the run directory (default: a UTC timestamp)')
    .option('--results <dir>', 'results root', 'results')
    .option('--workers <n>', 'client actors (overrides runtime.workers)', positiveInt('--workers'))
    .option('--backend <name>', `${BACKEND_HELP} (overrides runtime.backend)`, backendOption)
    .option('--actors <host>', ACTORS_HELP, actorsOption)
    .option('--kernels <set>', `${KERNELS_HELP} (overrides runtime.kernels)`, kernelsOption)
    .option('--stop-after-round <n>', 'checkpoint and stop after this round', positiveInt('--stop-after-round'))
    .action(async (file: string, opts: { resume?: string | true; runId?: string; results: string; workers?: number; backend?: BackendChoice; actors?: ActorHostChoice; kernels?: KernelChoice; stopAfterRound?: number }) => {
        const { loadScenario } = await import('../scenario/load.js');
        const { runScenario } = await import('../run/run-scenario.js');
        const { stopAfter } = await import('../run/recorder.js');
        const scenario = await loadScenario(file);
        if (opts.workers) scenario.runtime.workers = opts.workers;
        if (opts.backend) scenario.runtime.backend = opts.backend;
        if (opts.actors) overrideActors(scenario.runtime, opts.actors, file);
        if (opts.kernels) scenario.runtime.kernels = opts.kernels;
        const observers = opts.stopAfterRound === undefined ? [] : [stopAfter(opts.stopAfterRound)];
        await runScenario({ scenario, resultsRoot: opts.results, resume: opts.resume, runId: opts.runId, hosts: ctx.hosts, observers });
      });
}
