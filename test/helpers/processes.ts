/** CLI processes that tests start, watch and kill. */
import { spawn, type ChildProcess } from 'node:child_process';
import { CLI, REPO } from './tiny-run.js';

export interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** Starts the built CLI (or another build's); `output()` is what it has written so far. */
export function start(args: string[], env?: NodeJS.ProcessEnv, cli = CLI): { child: ChildProcess; exited: Promise<Exit>; output: () => string } {
  const child = spawn(process.execPath, [cli, ...args], { cwd: REPO, stdio: ['ignore', 'pipe', 'pipe'], ...(env ? { env: { ...process.env, ...env } } : {}) });
  let stdout = '';
  let stderr = '';
  child.stdout?.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<Exit>((resolve) => child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr })));
  return { child, exited, output: () => stdout + stderr };
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Polls (every 2 ms, so the kill lands close to the event) until cond holds; fails if the child exits first. */
export async function waitFor(cond: () => boolean, what: string, exited: Promise<Exit>, timeoutMs = 60_000): Promise<void> {
  let done: Exit | null = null;
  void exited.then((e) => (done = e));
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (done) throw new Error(`the run exited before ${what}: ${JSON.stringify(done)}`);
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(2);
  }
}

