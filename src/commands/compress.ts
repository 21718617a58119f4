import type { Command } from 'commander';
import { UserError } from '../util/errors.js';
import type { BackendChoice } from '../tensor/backend-choices.js';
import { BACKEND_HELP, backendOption } from './options.js';

export function registerCompress(program: Command): void {
  program
    .command('compress')
    .description("write a FedPFT sub-FM: each compressed layer's FFN keeps its most salient neurons")
    .requiredOption('--model <dir>', 'FM directory (HF layout)')
    .requiredOption('--out <dir>', 'output directory for the sub-FM')
    .option('--keep <x>', 'neurons kept per compressed layer: a fraction in (0, 1] or a count > 1', '0.25')
    .option('--retained <layers>', 'comma-separated layers kept whole (default: first and last)')
    .option('--backend <name>', `${BACKEND_HELP} (the kept neurons and the weights written do not depend on it)`, backendOption, 'cpu')
    .action(async (opts: { model: string; out: string; keep: string; retained?: string; backend: BackendChoice }) => {
      const { compressCommand } = await import('../proxy/compress-command.js');
      const { initBackend } = await import('../tensor/backend.js');
      await initBackend(opts.backend);
      const keep = Number(opts.keep);
      if (!Number.isFinite(keep)) throw new UserError('command line', '--keep', `expected a number, got "${opts.keep}"`);
      const retained = opts.retained?.split(',').map((v) => {
        const n = Number(v);
        if (!Number.isInteger(n)) throw new UserError('command line', '--retained', `expected comma-separated layer indices, got "${opts.retained}"`);
        return n;
      });
      const { kept, sha256 } = await compressCommand({ model: opts.model, keep, retained, out: opts.out });
      const layers = Object.entries(kept).map(([l, idx]) => `${l}:${idx.length}`).join(' ');
      console.log(`wrote ${opts.out} (model.safetensors sha256 ${sha256}); kept neurons per layer ${layers}`);
    });
}
