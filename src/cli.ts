#!/usr/bin/env node
import { Command, CommanderError } from 'commander';
import { fileURLToPath } from 'node:url';
import { UserError } from './util/errors.js';

const program = new Command('fedpft')
  .description('Deterministic simulator for federated fine-tuning of foundation models through proxy models')
  .showHelpAfterError()
  .exitOverride();

program
  .command('pretrain')
  .description('train a foundation model from a recipe (resumable: run it again to continue)')
  .argument('<recipe>', 'recipe JSON file, e.g. models/recipes/vit-fmnist.json')
  .option('--stop-after <steps>', 'checkpoint and stop after this many steps (to split a long run)', (v) => parseInt(v, 10))
  .action(async (recipe: string, opts: { stopAfter?: number }) => {
      const { pretrain } = await import('./pretrain/pretrain.js');
      const result = await pretrain(recipe, { stopAfterSteps: opts.stopAfter });
      console.log(result.done ? `done: sha256 ${result.sha256}` : `stopped at step ${result.step}/${result.totalSteps}; run again to continue`);
    });

const DEFAULT_SCENARIO = fileURLToPath(new URL('../../scenarios/quickstart.yaml', import.meta.url));

const positiveInt = (flag: string) => (v: string) => {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) throw new UserError('command line', flag, `expected an integer >= 1, got "${v}"`);
  return n;
};

program
  .command('run')
  .description('run a scenario (default: the quickstart) and write results/<scenario>/<run-id>/')
  .argument('[scenario]', 'scenario YAML file', DEFAULT_SCENARIO)
  .option('--resume [run-id]', 'continue an interrupted run (default: the newest unfinished one)')
  .option('--run-id <id>', 'name of the run directory (default: a UTC timestamp)')
  .option('--results <dir>', 'results root', 'results')
  .option('--workers <n>', 'client actors (overrides runtime.workers)', positiveInt('--workers'))
  .option('--backend <name>', 'auto | tensorflow | wasm | cpu (overrides runtime.backend)')
  .option('--stop-after-round <n>', 'checkpoint and stop after this round', positiveInt('--stop-after-round'))
  .action(async (file: string, opts: { resume?: string | true; runId?: string; results: string; workers?: number; backend?: string; stopAfterRound?: number }) => {
      const { loadScenario } = await import('./scenario/load.js');
      const { runScenario } = await import('../actors/server.js');
      const scenario = loadScenario(file);
      if (opts.workers) scenario.runtime.workers = opts.workers;
      if (opts.backend) {
        if (!['auto', 'tensorflow', 'wasm', 'cpu'].includes(opts.backend)) throw new UserError('command line', '--backend', `expected auto | tensorflow | wasm | cpu, got "${opts.backend}"`);
        scenario.runtime.backend = opts.backend as typeof scenario.runtime.backend;
      }
      await runScenario({ scenario, resultsRoot: opts.results, resume: opts.resume, runId: opts.runId, stopAfterRound: opts.stopAfterRound });
    });

program
  .command('partition')
  .description("print each client's label counts for a scenario's partition")
  .argument('[scenario]', 'scenario YAML file', DEFAULT_SCENARIO)
  .option('--json', 'print JSON instead of a table')
  .action(async (file: string, opts: { json?: boolean }) => {
      const { loadScenario } = await import('./scenario/load.js');
      const { loadTask } = await import('./data/registry.js');
      const { partition } = await import('./data/partition.js');
      const { formatPartitionTable, partitionJson } = await import('./data/partition-table.js');
      const scenario = loadScenario(file);
      const { train } = loadTask(scenario.task.dataset, { trainLimit: scenario.task.trainLimit });
      const p = partition(train.labels, train.numClasses, scenario.federation.clients, scenario.partition, scenario.seed);
      console.log(opts.json ? JSON.stringify(partitionJson(p, train.labels, train.classNames), null, 2) : formatPartitionTable(p, train.labels, train.classNames));
    });

program
  .command('compress')
  .description("write a FedPFT sub-FM: each compressed layer's FFN keeps its most salient neurons")
  .requiredOption('--model <dir>', 'FM directory (HF layout)')
  .requiredOption('--out <dir>', 'output directory for the sub-FM')
  .option('--keep <x>', 'neurons kept per compressed layer: a fraction in (0, 1] or a count > 1', '0.25')
  .option('--retained <layers>', 'comma-separated layers kept whole (default: first and last)')
  .action(async (opts: { model: string; out: string; keep: string; retained?: string }) => {
    const { compressCommand } = await import('./proxy/compress-command.js');
    const { initBackend } = await import('./tensor/backend.js');
    await initBackend('cpu');
    const keep = Number(opts.keep);
    if (!Number.isFinite(keep)) throw new UserError('command line', '--keep', `expected a number, got "${opts.keep}"`);
    const retained = opts.retained?.split(',').map((v) => {
      const n = Number(v);
      if (!Number.isInteger(n)) throw new UserError('command line', '--retained', `expected comma-separated layer indices, got "${opts.retained}"`);
      return n;
    });
    const { kept, sha256 } = compressCommand({ model: opts.model, keep, retained, out: opts.out });
    const layers = Object.entries(kept).map(([l, idx]) => `${l}:${idx.length}`).join(' ');
    console.log(`wrote ${opts.out} (model.safetensors sha256 ${sha256}); kept neurons per layer ${layers}`);
  });

program
  .command('bench')
  .description('engine throughput: train-step GFLOP/s beside plain matMul GFLOP/s, with and without the wasm kernel fixes')
  .option('--model <dir>', 'FM directory whose architecture is measured', 'models/vit-fmnist')
  .option('--backend <name>', 'auto | tensorflow | wasm | cpu', 'wasm')
  .option('--batch <n>', 'examples per step', positiveInt('--batch'), 64)
  .option('--steps <n>', 'timed steps', positiveInt('--steps'), 10)
  .option('--json <file>', 'also write the numbers as JSON')
  .option('--json-only', 'print only JSON')
  .option('--no-compare', 'skip the stock-kernel comparison run')
  .action(async (opts: { model: string; backend: string; batch: number; steps: number; json?: string; jsonOnly?: boolean; compare: boolean }) => {
      const { benchEngine, benchEngineStock } = await import('./bench/bench.js');
      const { writeFileAtomic } = await import('./util/atomic-write.js');
      const engine = await benchEngine(opts.model, opts.backend as 'wasm', opts.batch, opts.steps);
      const stock = opts.compare && engine.backend === 'wasm' ? benchEngineStock(opts.model, opts.batch, opts.steps) : null;
      const result = { engine, stock };
      if (opts.json) writeFileAtomic(opts.json, JSON.stringify(result, null, 2) + '\n');
      if (opts.jsonOnly) {
        console.log(JSON.stringify(result));
        return;
      }
      const Table = (await import('cli-table3')).default;
      const table = new Table({ head: ['kernels', 'backend', 'matMul GFLOP/s', 'full step GFLOP/s', 'full ms/step', 'LoRA step GFLOP/s', 'LoRA ms/step'], style: { head: [], border: [] } });
      for (const [label, e] of [['project', engine], ['stock', stock]] as const) {
        if (e) table.push([label, e.backend, e.matMulGflops.toFixed(2), e.fullStep.gflops.toFixed(2), e.fullStep.msPerStep.toFixed(0), e.loraStep.gflops.toFixed(2), e.loraStep.msPerStep.toFixed(0)]);
      }
      console.log(`${opts.model}, batch ${opts.batch}, ${opts.steps} timed steps`);
      console.log(table.toString());
    });

// User errors, from option parsers or from a command, become one line and exit code 2.
try {
  await program.parseAsync(process.argv);
} catch (err) {
  if (err instanceof UserError) {
    console.error(`fedpft: ${err.message}`);
    process.exit(2);
  }
  // Commander has printed its own message (or the help); usage errors share code 2.
  if (err instanceof CommanderError) process.exit(err.exitCode === 0 ? 0 : 2);
  throw err;
}
