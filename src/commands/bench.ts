import type { Command } from 'commander';
import { positiveInt } from './options.js';

export function registerBench(program: Command): void {
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
        const { benchEngine, benchEngineStock } = await import('../bench/bench.js');
        const { writeFileAtomic } = await import('../util/atomic-write.js');
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
}
