import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, realpathSync } from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { BackendInfo } from '../tensor/backend.js';
import type { ScenarioInputs } from './scenario-inputs.js';

const PACKAGES = ['@tensorflow/tfjs-core', '@tensorflow/tfjs-backend-wasm', '@tensorflow/tfjs-backend-cpu', 'piscina', 'comlink', 'seedrandom'];

const PROJECT_NAME = 'fedpft';

function readManifest(file: string): { name?: unknown; version?: unknown } | null {
  try {
    const json = JSON.parse(readFileSync(file, 'utf8')) as unknown;
    return json !== null && typeof json === 'object' ? (json as { name?: unknown; version?: unknown }) : null;
  } catch {
    return null;
  }
}

/** The nearest directory at or above `start` whose package.json is named `name`. */
function packageDirAbove(start: string, name: string): string | null {
  for (let dir = resolve(start); ; dir = dirname(dir)) {
    if (readManifest(join(dir, 'package.json'))?.name === name) return dir;
    if (dirname(dir) === dir) return null;
  }
}

let root: string | null | undefined;

/**
 * This project's own directory (where its package.json is), found from this module's file, so
 * it is the same from src/ (tests), dist/ and an install under someone's node_modules; never
 * the working directory, which is the user's.
 */
export function projectRoot(): string | null {
  if (root === undefined) root = packageDirAbove(dirname(fileURLToPath(import.meta.url)), PROJECT_NAME);
  return root;
}

/**
 * The installed version of `name` as seen from `from` (a directory), or 'not installed'. The
 * package directory is looked up in the node_modules folders Node would search, and its
 * package.json read directly: `require.resolve('<name>/package.json')` fails for packages whose
 * exports map does not list package.json (piscina), and the entry point may be ESM-only.
 */
export function packageVersion(name: string, from: string = projectRoot() ?? process.cwd()): string {
  const require = createRequire(join(from, 'noop.js'));
  const candidates = (require.resolve.paths(name) ?? []).map((dir) => join(dir, name));
  try {
    // Fallback for layouts the search paths miss: walk up from the resolved entry point.
    const fromEntry = packageDirAbove(dirname(require.resolve(name)), name);
    if (fromEntry) candidates.push(fromEntry);
  } catch {
    // not resolvable as CommonJS; the search paths above are enough
  }
  for (const dir of candidates) {
    const manifest = readManifest(join(dir, 'package.json'));
    if (manifest?.name === name && typeof manifest.version === 'string') return manifest.version;
  }
  return 'not installed';
}

/** Git's own variables would point it at another repository whatever its cwd. */
function gitEnv(): NodeJS.ProcessEnv {
  const env = { ...process.env };
  for (const key of ['GIT_DIR', 'GIT_WORK_TREE', 'GIT_INDEX_FILE', 'GIT_COMMON_DIR', 'GIT_OBJECT_DIRECTORY', 'GIT_CEILING_DIRECTORIES', 'GIT_DISCOVERY_ACROSS_FILESYSTEM']) {
    delete env[key];
  }
  return env;
}

function git(args: string[], cwd: string): string {
  return execFileSync('git', args, { cwd, env: gitEnv(), stdio: ['ignore', 'pipe', 'ignore'] }).toString().trim();
}

/**
 * The commit of the git checkout whose top level is `dir` ("+dirty" with uncommitted changes
 * to tracked files), or null when `dir` is not the top of a checkout: e.g. fedpft installed
 * under node_modules inside the user's repository, whose commit says nothing about fedpft.
 */
export function gitCommit(dir: string): string | null {
  try {
    if (!existsSync(dir)) return null;
    const top = git(['rev-parse', '--show-toplevel'], dir);
    if (realpathSync(top) !== realpathSync(dir)) return null;
    const head = git(['rev-parse', 'HEAD'], dir);
    const dirty = git(['status', '--porcelain', '--untracked-files=no'], dir);
    return dirty ? `${head}+dirty` : head;
  } catch {
    return null;
  }
}

/** fedpft's own version: its package.json, found from this module's file, never from the cwd. */
export function ownVersion(): string {
  const project = projectRoot();
  const own = project ? readManifest(join(project, 'package.json'))?.version : undefined;
  return typeof own === 'string' ? own : 'unknown';
}

/** Everything besides the scenario that a result depends on, recorded with every run. */
export function describeEnvironment(backend: BackendInfo, workers: number, actors: string, inputs?: ScenarioInputs): Record<string, unknown> {
  const project = projectRoot();
  return {
    backend: backend.name,
    backendSkipped: backend.skipped,
    kernels: backend.kernels,
    ...(backend.blas ? { blas: backend.blas, blasKernels: backend.blasKernels } : {}),
    ...(backend.fastUnavailable ? { fastUnavailable: backend.fastUnavailable } : {}),
    // webgpu: vendor, architecture, device, the driver (in Dawn's description) and Dawn's package.
    ...(backend.adapter ? { adapter: backend.adapter } : {}),
    tfjs: backend.tfjsVersion,
    fedpft: ownVersion(),
    packages: Object.fromEntries(PACKAGES.map((p) => [p, packageVersion(p)])),
    node: process.version,
    platform: `${os.platform()} ${os.arch()}`,
    cpus: os.availableParallelism(),
    workers,
    actors,
    // fedpft's own commit; null when it does not run from its own git checkout (see fedpft).
    gitCommit: project ? gitCommit(project) : null,
    // The contents of the files the scenario names, which resume and grids compare instead of their paths.
    ...(inputs ? { inputs } : {}),
  };
}
