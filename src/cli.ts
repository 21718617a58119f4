#!/usr/bin/env node
import { Command, CommanderError } from 'commander';
import { registerAblate } from './commands/ablate.js';
import { registerBench } from './commands/bench.js';
import { registerCompress } from './commands/compress.js';
import { registerPartition } from './commands/partition.js';
import { registerPredict } from './commands/predict.js';
import { registerPretrain } from './commands/pretrain.js';
import { registerReport } from './commands/report.js';
import { registerRun } from './commands/run.js';
import { registerSchema } from './commands/schema.js';
import { registerSweep } from './commands/sweep.js';
import { registerWorker } from './commands/worker.js';
import { ownVersion } from './results/environment.js';
import { RunStoppedError, UserError } from './util/errors.js';

const program = new Command('fedpft')
  .description('Deterministic simulator for federated fine-tuning of foundation models through proxy models')
  .version(ownVersion(), '-V, --version', "print fedpft's version")
  .showHelpAfterError()
  .exitOverride();

registerPretrain(program);
registerRun(program);
registerPartition(program);
registerCompress(program);
registerBench(program);
registerAblate(program);
registerSweep(program);
registerReport(program);
registerPredict(program);
registerWorker(program);
registerSchema(program);

// User errors, from option parsers or from a command, become one line and exit code 2.
try {
  await program.parseAsync(process.argv);
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
