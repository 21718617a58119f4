import { copyFileSync, existsSync } from 'node:fs';
import { resolve, join } from 'node:path';
import { disposeParams } from '../model/params.js';
import { loadModel, saveModel } from '../model/encoder.js';
import { writeFileAtomic } from '../util/atomic-write.js';
import { UserError } from '../util/errors.js';
import { checkCompressOptions, compressFm, defaultRetained } from './compress.js';

export interface CompressCommandOptions {
  /** FM directory (HF layout). */
  model: string;
  /** See CompressOptions.keep: a fraction in (0, 1] or an integer count > 1. */
  keep: number;
  /** Layers kept whole; default [0, L - 1]. */
  retained?: number[];
  /** Output directory for the sub-FM (must differ from `model`). */
  out: string;
}

/** The record written next to the sub-FM: which FM neurons each compressed layer kept. */
export interface KeptNeuronsFile {
  source: string;
  keep: number;
  retained: number[];
  layers: Record<string, number[]>;
}

export const KEPT_NEURONS_FILE = 'kept-neurons.json';
const TOKENIZER_FILES = ['tokenizer.json', 'vocab.txt', 'tokenizer_config.json'];

/**
 * `fedpft compress`: loads the FM, builds the sub-FM (compressFm) and writes it in HF layout
 * (config.json gains `intermediate_sizes`), plus `kept-neurons.json`. Returns the kept indices
 * and the sha256 of the written model.safetensors.
 */
export async function compressCommand(opts: CompressCommandOptions): Promise<{ kept: Record<number, number[]>; sha256: string }> {
  if (resolve(opts.out) === resolve(opts.model)) throw new UserError('command line', '--out', 'must differ from --model (it would overwrite the FM)');
  const fm = loadModel(opts.model);
  try {
    const problem = checkCompressOptions(fm.cfg, opts);
    if (problem) throw new UserError('command line', `--${problem.field}`, problem.message);
    const retained = [...new Set(opts.retained ?? defaultRetained(fm.cfg))].sort((a, b) => a - b);
    const sub = await compressFm(fm.cfg, fm.params, { keep: opts.keep, retained });
    try {
      const { sha256 } = await saveModel(opts.out, sub.cfg, sub.params, fm.classNames);
      // A text sub-FM reads text exactly as its FM does.
      for (const f of TOKENIZER_FILES) if (existsSync(join(opts.model, f))) copyFileSync(join(opts.model, f), join(opts.out, f));
      const record: KeptNeuronsFile = {
        source: opts.model,
        keep: opts.keep,
        retained,
        layers: Object.fromEntries(Object.entries(sub.kept).map(([l, idx]) => [String(l), idx])),
      };
      writeFileAtomic(join(opts.out, KEPT_NEURONS_FILE), `${JSON.stringify(record)}\n`);
      return { kept: sub.kept, sha256 };
    } finally {
      disposeParams(sub.params);
    }
  } finally {
    disposeParams(fm.params);
  }
}
