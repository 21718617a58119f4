import type { Command } from 'commander';
import type { CommandContext } from './context.js';
import { UserError } from '../util/errors.js';
import { BACKEND_HELP, backendOption, KERNELS_HELP, kernelsOption, positiveInt } from './options.js';
import type { KernelChoice } from '../tensor/backend-choices.js';
import { BENCH_SECTIONS, type BenchSection } from '../bench/common.js';


interface BenchOptions {
  model: string;
  backend: string;
  batch?: number;
  steps?: number;
  repeats?: number;
  sections: string;
  quick?: boolean;
  json?: string;
  jsonOnly?: boolean;
  compare: boolean;
  peer?: string;
  kernels?: KernelChoice;
}

function parseSections(list: string): BenchSection[] {
  const names = list.split(',').map((s) => s.trim()).filter((s) => s.length > 0);
  for (const n of names) {
    if (!(BENCH_SECTIONS as readonly string[]).includes(n)) throw new UserError('command line', '--sections', `expected a comma-separated list of ${BENCH_SECTIONS.join(', ')}, got "${n}"`);
  }
  if (names.length === 0) throw new UserError('command line', '--sections', 'expected at least one section');
  return BENCH_SECTIONS.filter((s) => names.includes(s));
}

export function registerBench(program: Command, ctx: CommandContext): void {
  program
    .command('bench')
    .description('performance of the shipped FMs on this machine: engine (train step vs matMul GFLOP/s, with and without the wasm kernel fixes), methods (client step time and bytes per round), pool (updates/s with 1 and 2 actors on threads, processes and broker workers; the broker’s share of round time), overhead (share of round time outside training and evaluation), memory (peak RSS vs number of clients)')
    .option('--model <dirs>', 'comma-separated FM directories: engine and methods measure each, pool, overhead and memory the first; random:bert-base is a BERT-base-shaped FM with random weights (engine, LoRA step only)', 'models/vit-fmnist,models/bert-text')
    .option('--backend <name>', BACKEND_HELP, backendOption, 'wasm')
    .option('--batch <n>', 'engine: examples per step (default 64 images or 8 texts; --quick 16 or 2)', positiveInt('--batch'))
    .option('--steps <n>', 'engine: timed steps per repeat (default 10 for images, 4 for texts; --quick 2)', positiveInt('--steps'))
    .option('--repeats <n>', 'repeats per measurement, medians reported (default per section; --quick 1)', positiveInt('--repeats'))
    .option('--sections <list>', `comma-separated subset of ${BENCH_SECTIONS.join(',')}`, BENCH_SECTIONS.join(','))
    .option('--quick', 'small sizes (about a minute): checks the machinery, not the targets')
    .option('--json <file>', 'also write the numbers as JSON')
    .option('--json-only', 'print only JSON')
    .option('--no-compare', 'skip the stock-kernel comparison run')
    .option('--kernels <set>', `every section: ${KERNELS_HELP}`, kernelsOption)
    .option('--peer <name>', "engine: also time a PyTorch twin of each step at one thread (torch: needs python3 with torch, e.g. Debian's python3-torch) and print the ratios")
    .action(async (opts: BenchOptions) => {
      if (opts.peer !== undefined && opts.peer !== 'torch') throw new UserError('command line', '--peer', `expected torch, got "${opts.peer}"`);
      const asked = parseSections(opts.sections);
      // The twin is compared with the engine section's own steps.
      const sections = opts.peer && !asked.includes('engine') ? parseSections(['engine', ...asked].join(',')) : asked;
      const { runBench, formatBench } = await import('../bench/run.js');
      const { writeFileAtomic } = await import('../util/atomic-write.js');
      const print = opts.jsonOnly ? () => {} : (text: string) => console.log(text);
      const names = opts.model.split(',').map((d) => d.trim()).filter((d) => d.length > 0);
      if (names.length === 0) throw new UserError('command line', '--model', 'expected at least one FM directory');
      const { randomFmDir, RANDOM_FM_NAMES, RANDOM_FM_PREFIX } = await import('../bench/random-fm.js');
      const loraOnly = new Set<string>();
      const modelDirs = names.map((name) => {
        if (!name.startsWith(RANDOM_FM_PREFIX)) return name;
        if (sections.some((s) => s !== 'engine')) throw new UserError('command line', '--model', `${name} has no weights: time it with --sections engine`);
        const dir = randomFmDir(name);
        if (dir === null) throw new UserError('command line', '--model', `expected an FM directory or ${RANDOM_FM_NAMES.join(' | ')}, got "${name}"`);
        loraOnly.add(dir);
        return dir;
      });
      const result = await runBench(
        {
          modelDirs,
          loraOnly,
          backend: opts.backend as 'wasm',
          quick: opts.quick ?? false,
          sections,
          compare: opts.compare,
          ...(opts.peer ? { peer: 'torch' as const } : {}),
          ...(opts.kernels ? { kernels: opts.kernels } : {}),
          ...(opts.batch ? { batch: opts.batch } : {}),
          ...(opts.steps ? { steps: opts.steps } : {}),
          ...(opts.repeats ? { repeats: opts.repeats } : {}),
          hosts: ctx.hosts,
        },
        (section, partial) => print(formatBench(partial, section)),
      );
      if (opts.json) writeFileAtomic(opts.json, JSON.stringify(result, null, 2) + '\n');
      if (opts.jsonOnly) {
        console.log(JSON.stringify(result));
        return;
      }
      print(formatBench(result, 'summary'));
    });
}
