import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import type { BackendInfo } from '../tensor/backend.js';

const require = createRequire(import.meta.url);

const PACKAGES = ['@tensorflow/tfjs-core', '@tensorflow/tfjs-backend-wasm', '@tensorflow/tfjs-backend-cpu', 'piscina', 'comlink', 'seedrandom'];

function packageVersion(name: string): string {
  try {
    const file = require.resolve(`${name}/package.json`);
    return (JSON.parse(readFileSync(file, 'utf8')) as { version: string }).version;
  } catch {
    return 'not installed';
  }
}

function gitCommit(): string {
  try {
    const head = execFileSync('git', ['rev-parse', 'HEAD'], { stdio: ['ignore', 'pipe', 'ignore'] }).toString().trim();
    const dirty = execFileSync('git', ['status', '--porcelain', '--untracked-files=no'], { stdio: ['ignore', 'pipe', 'ignore'] }).toString().trim();
    return dirty ? `${head}+dirty` : head;
  } catch {
    return 'unknown';
  }
}

/** Everything besides the scenario that a result depends on, recorded with every run. */
export function describeEnvironment(backend: BackendInfo, workers: number): Record<string, unknown> {
  return {
    backend: backend.name,
    backendSkipped: backend.skipped,
    tfjs: backend.tfjsVersion,
    packages: Object.fromEntries(PACKAGES.map((p) => [p, packageVersion(p)])),
    node: process.version,
    platform: `${os.platform()} ${os.arch()}`,
    cpus: os.availableParallelism(),
    workers,
    gitCommit: gitCommit(),
  };
}
