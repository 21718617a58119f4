/**
 * A redis-server of the caller's own (Debian's package), on a free loopback port with a temporary
 * directory and no persistence: for the broker tests and `fedpft bench`.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

export const REDIS_MISSING = "redis-server is not installed: install Debian's redis-server (apt-get install redis-server; .ci/run does)";

export interface RedisServer {
  url: string;
  port: number;
  /** Kills the server (SIGKILL: nothing saved) and starts a new one on the same port, empty. */
  restart(): Promise<void>;
  stop(): Promise<void>;
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as { port: number }).port;
      srv.close(() => resolve(port));
    });
  });
}

/** Whether a Redis server answers PING on this loopback port. */
export function pings(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = new Socket();
    let out = '';
    s.setTimeout(500, () => (s.destroy(), resolve(false)));
    s.once('error', () => resolve(false));
    s.connect(port, '127.0.0.1', () => s.write('PING\r\n'));
    s.on('data', (d) => {
      out += d.toString();
      if (out.includes('\r\n')) {
        s.destroy();
        resolve(out.startsWith('+PONG'));
      }
    });
  });
}

export async function startRedisServer(): Promise<RedisServer> {
  if (spawnSync('redis-server', ['--version']).error) throw new Error(REDIS_MISSING);
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'fedpft-redis-'));
  let proc: ChildProcess;
  const launch = async () => {
    proc = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--save', '', '--appendonly', 'no'], { stdio: 'ignore' });
    for (let i = 0; i < 100; i++) {
      if (await pings(port)) return;
      await sleep(100);
    }
    throw new Error(`redis-server did not answer on port ${port}`);
  };
  const kill = async () => {
    if (proc.exitCode !== null || proc.signalCode !== null) return;
    const exited = new Promise((r) => proc.once('exit', r));
    proc.kill('SIGKILL');
    await exited;
  };
  await launch();
  return {
    url: `redis://127.0.0.1:${port}`,
    port,
    restart: async () => {
      await kill();
      await launch();
    },
    stop: async () => {
      await kill();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
