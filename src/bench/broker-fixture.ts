import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startRedisServer, type RedisServer } from '../util/redis-server.js';
import { compiled } from './common.js';

/** A redis-server of the bench's own and `fedpft worker` processes on this machine, as a broker run would have. */
export interface BrokerFixture {
  url: string;
  /** Starts `n` worker processes (one actor each) serving `queue`; resolves once all serve it. */
  workers(queue: string, n: number): Promise<void>;
  close(): Promise<void>;
}

export async function startBrokerFixture(): Promise<BrokerFixture> {
  const redis: RedisServer = await startRedisServer();
  const cache = mkdtempSync(join(tmpdir(), 'fedpft-bench-cache-'));
  const children: ChildProcess[] = [];
  const startOne = (queue: string) =>
    new Promise<void>((resolve, reject) => {
      const child = spawn(process.execPath, [compiled('../../cli.js'), 'worker', '--broker', redis.url, '--queue', queue, '--cache', cache], { stdio: ['ignore', 'pipe', 'pipe'] });
      children.push(child);
      let out = '';
      const onData = (d: Buffer) => {
        out += d.toString();
        if (out.includes('serves queue')) resolve();
      };
      child.stdout?.on('data', onData);
      child.stderr?.on('data', onData);
      child.once('exit', (code) => reject(new Error(`bench: a broker worker exited (${code}): ${out.trim().split('\n').pop() ?? ''}`)));
    });
  return {
    url: redis.url,
    workers: async (queue, n) => {
      await Promise.all(Array.from({ length: n }, () => startOne(queue)));
    },
    close: async () => {
      await Promise.all(
        children.map(
          (c) =>
            new Promise<void>((resolve) => {
              if (c.exitCode !== null || c.signalCode !== null) return resolve();
              c.once('exit', () => resolve());
              c.kill('SIGKILL');
            }),
        ),
      );
      await redis.stop();
      rmSync(cache, { recursive: true, force: true });
    },
  };
}
