import type { BackendChoice, KernelChoice } from '../tensor/backend-choices.js';
import type { Command } from 'commander';
import { UserError } from '../util/errors.js';
import { BACKEND_HELP, backendOption, KERNELS_HELP, kernelsOption, positiveInt } from './options.js';

export function registerPredict(program: Command): void {
  program
    .command('predict')
    .description('write what a checkpoint computes on given inputs (one JSON line per input), to compare implementations')
    .requiredOption('--model <dir>', 'checkpoint directory (HF layout: config.json, model.safetensors, tokenizer.json for text)')
    .requiredOption('--input <file>', 'JSONL: {"text": "...", "pair"?: "..."} per line for text FMs, {"image": [C*H*W numbers]} for ViTs')
    .option('--out <file>', 'write the JSON lines here instead of stdout')
    .option('--output <what>', 'logits (classification head) or cls-hidden (text FMs: final hidden state of the first token)', 'logits')
    .option('--max-length <n>', "text FMs: tokens per input after truncation and padding (default: the FM's positions, at most 512)", positiveInt('--max-length'))
    .option('--backend <name>', BACKEND_HELP, backendOption, 'wasm')
    .option('--kernels <set>', KERNELS_HELP, kernelsOption, 'auto')
    .action(async (opts: { model: string; input: string; out?: string; output: string; maxLength?: number; backend: BackendChoice; kernels: KernelChoice }) => {
      if (opts.output !== 'logits' && opts.output !== 'cls-hidden') throw new UserError('command line', '--output', `expected logits or cls-hidden, got "${opts.output}"`);
      const { backendLabel, initBackend } = await import('../tensor/backend.js');
      const backend = await initBackend(opts.backend, opts.kernels);
      const { loadModel } = await import('../model/encoder.js');
      const { predict, disposeModel } = await import('../predict/predict.js');
      const fm = loadModel(opts.model);
      try {
        const lines = (await predict(fm, opts.input, { output: opts.output, maxLength: opts.maxLength })).map((p) => JSON.stringify(p));
        const text = lines.join('\n') + '\n';
        if (opts.out) {
          const { writeFileAtomic } = await import('../util/atomic-write.js');
          writeFileAtomic(opts.out, text);
          console.error(`wrote ${lines.length} predictions to ${opts.out} (backend ${backendLabel(backend)})`);
        } else process.stdout.write(text);
      } finally {
        disposeModel(fm);
      }
    });
}
