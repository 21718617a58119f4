import { homedir } from 'node:os';
import type { CommandContext } from './context.js';
import { join } from 'node:path';
import type { Command } from 'commander';
import { parseRedisUrl, REDIS_URL_EXPECTED } from '../util/redis-url.js';
import { UserError } from '../util/errors.js';
import { positiveInt } from './options.js';

/** Where fetched client models are kept unless --cache says otherwise: the user's cache directory. */
function defaultCache(): string {
  return join(process.env['XDG_CACHE_HOME'] || join(homedir(), '.cache'), 'fedpft', 'broker');
}

const brokerUrl = (v: string): string => {
  if (!parseRedisUrl(v)) throw new UserError('command line', '--broker', `${REDIS_URL_EXPECTED}, got "${v}"`);
  return v;
};

const queueName = (v: string): string => {
  if (!/^[A-Za-z0-9_-]+$/.test(v)) throw new UserError('command line', '--queue', `expected letters, digits, "_" and "-", got "${v}"`);
  return v;
};

export function registerWorker(program: Command, ctx: CommandContext): void {
  program
    .command('worker')
    .description('serve the client tasks of runs with runtime.actors: broker, from a BullMQ queue on a Redis server; runs until stopped (SIGINT/SIGTERM finish the tasks in hand)')
    .requiredOption('--broker <url>', 'the Redis server, e.g. redis://127.0.0.1:6379', brokerUrl)
    .option('--queue <name>', "the queue to serve (a scenario's runtime.broker.queue)", queueName, 'fedpft')
    .option('--concurrency <n>', 'client actors in this process: tasks served at once', positiveInt('--concurrency'), 1)
    .option('--lock-seconds <s>', "how soon a killed worker's tasks go to another worker", positiveInt('--lock-seconds'), 10)
    .option('--cache <dir>', 'where fetched client models are kept (default: $XDG_CACHE_HOME/fedpft/broker or ~/.cache/fedpft/broker)')
    .action(async (opts: { broker: string; queue: string; concurrency: number; lockSeconds: number; cache?: string }) => {
      const log = (line: string) => console.log(line);
      const worker = await ctx.startWorker({ url: opts.broker, queue: opts.queue, concurrency: opts.concurrency, cacheDir: opts.cache ?? defaultCache(), lockMs: opts.lockSeconds * 1000, log });
      await new Promise<void>((resolve) => {
        const stop = (signal: string) => {
          log(`worker ${worker.name}: ${signal}, finishing the tasks in hand`);
          void worker.close().then(resolve);
        };
        process.once('SIGINT', () => stop('SIGINT'));
        process.once('SIGTERM', () => stop('SIGTERM'));
      });
    });
}
