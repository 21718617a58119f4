import * as tf from '@tensorflow/tfjs-core';
// tfjs-core's node bundle registers no gradients; the umbrella package registers them all.
import '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-cpu';
import { readdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { assertTfjsRelease, TfjsReleaseError } from './tfjs-internals.js';
import { installMissingWasmKernels, installWasmKernelFixes } from './wasm/register.js';
import { findWebGpuAdapter, NO_ADAPTER, useWebGpu, type WebGpuAdapter } from './webgpu.js';

import type { BackendChoice, KernelChoice, KernelSet } from './backend-choices.js';
import { openBlas, type OpenBlas } from './blas.js';
import { UserError } from '../util/errors.js';

export type { BackendChoice };

export interface BackendInfo {
  /** What actually ran: tensorflow-gpu, tensorflow, webgpu, wasm or cpu. */
  name: string;
  /** webgpu: the adapter it runs on. */
  adapter?: WebGpuAdapter;
  /** The kernel set: `fast` only on wasm, with OpenBLAS. */
  kernels: KernelSet;
  /** fast: OpenBLAS's library and configuration (its version and the core its kernels are for). */
  blas?: string;
  /** fast: what decides its bits, OpenBLAS's version and core; actors and resumes must match it. */
  blasKernels?: string;
  /** auto that resolved to exact on wasm: why the fast set did not load, one line. */
  fastUnavailable?: string;
  tfjsVersion: string;
  /** Why faster backends were skipped under `auto`, one line each. */
  skipped: string[];
}

const require = createRequire(import.meta.url);

async function tryTensorflow(skipped: string[]): Promise<string | null> {
  // Must be set before libtensorflow loads, or TF grabs all GPU memory in the first worker.
  process.env['TF_FORCE_GPU_ALLOW_GROWTH'] ??= 'true';
  for (const [pkg, name] of [
    ['@tensorflow/tfjs-node-gpu', 'tensorflow-gpu'],
    ['@tensorflow/tfjs-node', 'tensorflow'],
  ] as const) {
    try {
      require(pkg);
      if (await tf.setBackend('tensorflow')) return name;
      skipped.push(`${pkg}: loaded but the tensorflow backend did not initialise`);
    } catch (err) {
      skipped.push(`${pkg}: ${firstLine(err)}`);
    }
  }
  return null;
}

async function tryWasm(skipped: string[], blas: OpenBlas | undefined): Promise<string | null> {
  try {
    await import('@tensorflow/tfjs-backend-wasm');
    assertTfjsRelease('wasm');
    if (!(await tf.setBackend('wasm'))) {
      skipped.push('wasm: backend did not initialise');
      return null;
    }
    // A diagnostic switch, so the bench can measure what the fixes buy in a child process.
    if (process.env['FEDPFT_WASM_KERNEL_FIXES'] === 'off') {
      installMissingWasmKernels();
      return 'wasm (stock kernels)';
    }
    installWasmKernelFixes(blas?.sgemm);
    return 'wasm';
  } catch (err) {
    // A mismatched tfjs is a broken install to report, not a backend for `auto` to skip.
    if (err instanceof TfjsReleaseError) throw err;
    skipped.push(`wasm: ${firstLine(err)}`);
    return null;
  }
}

/** webgpu on the first adapter Dawn finds; under auto, only a hardware one (on a CPU adapter wasm is faster). */
async function tryWebgpu(skipped: string[], auto: boolean): Promise<{ name: string; adapter: WebGpuAdapter } | null> {
  // Without a GPU's device node the only adapter could be a CPU one: skip loading Dawn at all.
  if (auto && !hasGpuDeviceNode()) {
    skipped.push('webgpu: no GPU device (/dev/dri/renderD*, /dev/nvidia*)');
    return null;
  }
  try {
    const adapter = await findWebGpuAdapter();
    if (!adapter) {
      skipped.push(`webgpu: ${NO_ADAPTER}`);
      return null;
    }
    if (auto && adapter.software) {
      skipped.push(`webgpu: ${adapter.description} is a CPU adapter, slower than wasm (ask for --backend webgpu to use it)`);
      return null;
    }
    if (!(await useWebGpu())) {
      skipped.push('webgpu: backend did not initialise');
      return null;
    }
    return { name: 'webgpu', adapter };
  } catch (err) {
    if (err instanceof TfjsReleaseError) throw err;
    skipped.push(`webgpu: ${firstLine(err)}`);
    return null;
  }
}

function hasGpuDeviceNode(): boolean {
  const list = (dir: string) => {
    try {
      return readdirSync(dir);
    } catch {
      return [];
    }
  };
  return list('/dev/dri').some((f) => f.startsWith('renderD')) || list('/dev').some((f) => /^nvidia\d+$/.test(f));
}

function firstLine(err: unknown): string {
  return String(err instanceof Error ? err.message : err).split('\n')[0] ?? '';
}

let current: BackendInfo | null = null;

/**
 * Selects the tensor backend for this thread. `auto` tries tensorflow (GPU, then CPU), then
 * wasm, then cpu; an explicit choice that cannot load is an error, not a silent fallback.
 * Kernels `auto` (the default) is fast where wasm runs and OpenBLAS loads, else exact.
 */
export async function initBackend(choice: BackendChoice, asked: KernelChoice = 'auto'): Promise<BackendInfo> {
  if (current) {
    // A thread keeps its set (a bench section after another, a grid's runs): auto takes it.
    if (asked !== 'auto' && current.kernels !== asked) throw new Error(`this thread runs the ${current.kernels} kernel set; it cannot switch to ${asked}`);
    if (choice === 'auto' || backendMatches(current.name, choice)) return current;
  }
  const kernels = asked === 'auto' ? current?.kernels ?? 'auto' : asked;
  let blas: OpenBlas | undefined;
  let fastUnavailable: string | undefined;
  if (kernels === 'fast') {
    if (choice !== 'auto' && choice !== 'wasm') throw new UserError('runtime.kernels', '', `fast is a wasm kernel set; the backend asked for is ${choice}`);
    const loadedBlas = openBlas();
    if (typeof loadedBlas === 'string') throw new UserError('runtime.kernels', '', `fast needs OpenBLAS: ${loadedBlas}`);
    blas = loadedBlas;
  }
  const skipped: string[] = [];
  let name: string | null = null;
  let adapter: WebGpuAdapter | undefined;
  // The fast set is wasm's: under auto it goes straight there.
  if (!blas && (choice === 'auto' || choice === 'tensorflow')) name = await tryTensorflow(skipped);
  if (!blas && !name && (choice === 'auto' || choice === 'webgpu')) {
    const gpu = await tryWebgpu(skipped, choice === 'auto');
    if (gpu) ({ name, adapter } = gpu);
  }
  if (!name && (choice === 'auto' || choice === 'wasm')) {
    if (kernels === 'auto') {
      const loadedBlas = openBlas();
      if (typeof loadedBlas === 'string') fastUnavailable = `fast kernels unavailable, running exact: ${loadedBlas}`;
      else blas = loadedBlas;
    }
    name = await tryWasm(skipped, blas);
  }
  if (!name && (choice === 'auto' || choice === 'cpu')) {
    if (await tf.setBackend('cpu')) name = 'cpu';
  }
  if (!name) throw new Error(`backend "${choice}" is not available here: ${skipped.join('; ')}`);
  if (blas && name !== 'wasm') {
    if (kernels === 'fast') throw new Error(`the fast kernel set needs the wasm backend, and ${name} loaded instead`);
    blas = undefined;
  }
  await tf.ready();
  // Silences tfjs's "install tfjs-node" banner; the backend that ran is reported by us instead.
  tf.enableProdMode();
  current = {
    name,
    tfjsVersion: tf.version_core,
    skipped,
    kernels: blas ? 'fast' : 'exact',
    ...(adapter ? { adapter } : {}),
    ...(blas ? { blas: `${blas.library}: ${blas.config}`, blasKernels: blas.kernels } : {}),
    ...(fastUnavailable && name === 'wasm' ? { fastUnavailable } : {}),
  };
  return current;
}

/** What an actor must match: the backend that ran and its kernel set. */
export function backendLabel(b: Pick<BackendInfo, 'name' | 'kernels' | 'blasKernels'>): string {
  return b.kernels === 'fast' ? `${b.name} (fast kernels: ${b.blasKernels ?? 'OpenBLAS'})` : b.name;
}

function backendMatches(name: string, choice: BackendChoice): boolean {
  return choice === 'tensorflow' ? name.startsWith('tensorflow') : name === choice;
}

export function backendInfo(): BackendInfo {
  if (!current) throw new Error('initBackend() has not been called in this thread');
  return current;
}
