/** The CLI: its commands, and one line with exit code 2 for any user error. */
import { Command, CommanderError } from 'commander';
import { registerAblate } from './ablate.js';
import { registerBaseline } from './baseline.js';
import { registerBench } from './bench.js';
import { registerCompress } from './compress.js';
import { registerPartition } from './partition.js';
import { registerPredict } from './predict.js';
import { registerPretrain } from './pretrain.js';
import { registerReport } from './report.js';
import { registerRun } from './run.js';
import { registerSchema } from './schema.js';
import { registerSweep } from './sweep.js';
import { registerWorker } from './worker.js';
import { ownVersion } from '../results/environment.js';
import { RunStoppedError, UserError } from '../util/errors.js';
import type { CommandContext } from './context.js';

/** Parses argv and runs the command; `ctx` brings the actor hosts (from the entry point, cli.ts). */
export async function runCli(argv: string[], ctx: CommandContext): Promise<void> {
  const program = new Command('fedpft')
    .description('Deterministic simulator for federated fine-tuning of foundation models through proxy models')
    .version(ownVersion(), '-V, --version', "print fedpft's version")
    .showHelpAfterError()
    .exitOverride();

  registerPretrain(program);
  registerRun(program, ctx);
  registerPartition(program);
  registerCompress(program);
  registerBench(program, ctx);
  registerAblate(program, ctx);
  registerSweep(program, ctx);
  registerReport(program);
  registerPredict(program);
  registerBaseline(program);
  registerWorker(program, ctx);
  registerSchema(program);

  // User errors, from option parsers or from a command, become one line and exit code 2.
  try {
    await program.parseAsync(argv);
  } catch (err) {
    if (err instanceof UserError) {
      console.error(`fedpft: ${err.message}`);
      process.exit(2);
    }
    if (err instanceof RunStoppedError) {
      console.error(`fedpft: ${err.message}`);
      process.exit(1);
    }
    // Commander has printed its own message (or the help); usage errors share code 2.
    if (err instanceof CommanderError) process.exit(err.exitCode === 0 ? 0 : 2);
    throw err;
  }
}
