import * as tf from '@tensorflow/tfjs-core';
import type { TensorInfo } from '@tensorflow/tfjs-core';
import { createRequire } from 'node:module';

/**
 * Every use of tfjs beyond its public API, in one module: the wasm backend's heap, allocator and
 * data map, the engine's saving of tensors for the backward pass, and the webgpu backend's
 * program runner. These belong to one tfjs release and may change in any other without notice,
 * so the backends that rely on them refuse to start on another release
 * (assertTfjsRelease) rather than compute wrong bits or fail deep inside a kernel.
 */

/** The release whose internals the views below describe. */
export const TFJS_RELEASE = '4.22.0';

const CORE = '@tensorflow/tfjs-core';
const BACKEND_PACKAGES = { wasm: '@tensorflow/tfjs-backend-wasm', webgpu: '@tensorflow/tfjs-backend-webgpu' } as const;

const require = createRequire(import.meta.url);

export class TfjsReleaseError extends Error {}

/** Throws one line naming every package found at another version than TFJS_RELEASE. */
export function checkTfjsVersions(found: Readonly<Record<string, string>>): void {
  const wrong = Object.entries(found).filter(([, version]) => version !== TFJS_RELEASE);
  if (wrong.length === 0) return;
  const list = wrong.map(([pkg, version]) => `${pkg} ${version}`).join(', ');
  throw new TfjsReleaseError(`tfjs version mismatch: found ${list}, expected ${TFJS_RELEASE} (src/tensor/tfjs-internals.ts reads that release's private internals); install exactly ${TFJS_RELEASE}`);
}

/**
 * tfjs-core as loaded, and the given backend's package.json: requiring the backend itself would
 * load its CommonJS build, a second tfjs beside the ES module one.
 */
export function assertTfjsRelease(backend: keyof typeof BACKEND_PACKAGES): void {
  const pkg = BACKEND_PACKAGES[backend];
  const version = (require(`${pkg}/package.json`) as { version: string }).version;
  checkTfjsVersions({ [CORE]: tf.version_core, [pkg]: version });
}

/** The wasm backend object (tfjs-backend-wasm's BackendWasm) as the project's kernels use it. */
export interface WasmBackend {
  /** The Emscripten module: its heap's Memory and allocator. */
  wasm: { asm: { memory: WebAssembly.Memory }; _malloc(bytes: number): number; _free(address: number): void };
  /** Where each tensor's data starts in the heap (bytes). */
  dataIdMap: { get(dataId: object): { memoryOffset: number } | undefined };
  makeOutput(shape: number[], dtype: tf.DataType): TensorInfo;
  incRef(dataId: object): void;
  typedArrayFromHeap(info: TensorInfo): Float32Array | Int32Array | Uint8Array;
  disposeData(dataId: object): boolean;
}

/** The backend a wasm kernel is called with. */
export function asWasm(backend: unknown): WasmBackend {
  return backend as WasmBackend;
}

/** The registered wasm backend, once tf.setBackend('wasm') has initialised it. */
export function wasmBackend(): WasmBackend {
  const backend = tf.findBackend('wasm');
  if (!backend) throw new Error('the wasm backend is not initialised; call tf.setBackend("wasm") first');
  return asWasm(backend);
}

/** The heap that tfjs's wasm kernels and the project's share. */
export function wasmMemory(backend: WasmBackend): WebAssembly.Memory {
  return backend.wasm.asm.memory;
}

/** The byte address of a tensor's data in wasm's heap (a typed-array view would allocate on every op). */
export function heapAddress(backend: WasmBackend, t: TensorInfo): number {
  const data = backend.dataIdMap.get(t.dataId);
  if (!data) throw new Error('wasm backend: tensor data not found (disposed?)');
  return data.memoryOffset;
}

/** The engine's members that decide how tensors are saved for the backward pass. */
export interface EngineInternals {
  backendName: string;
  backend: { incRef(dataId: object): void };
  keep<T extends tf.Tensor>(t: T): T;
  makeTensorFromTensorInfo(info: TensorInfo): tf.Tensor;
  /** Private in tfjs: keep(clone(t)) for each tensor a gradient needs. */
  saveTensorsForBackwardMode(tensors: tf.Tensor[]): tf.Tensor[];
}

export function engineInternals(): EngineInternals {
  return tf.engine() as unknown as EngineInternals;
}

/** A program for the webgpu backend's runner: the shader contract of tfjs-backend-webgpu's code generator. */
export interface WebGpuProgram {
  variableNames: string[];
  uniforms: string;
  workgroupSize: [number, number, number];
  shaderKey: string;
  outputShape: number[];
  dispatchLayout: { x: number[] };
  dispatch: [number, number, number];
  getUserCode(): string;
}

/** The webgpu backend object (tfjs-backend-webgpu's WebGPUBackend) as the project's kernels use it. */
export interface WebGpuBackend {
  runWebGPUProgram(program: WebGpuProgram, inputs: TensorInfo[], dtype: tf.DataType, uniforms: Array<{ type: string; data: number[] }>, output?: TensorInfo): TensorInfo;
  disposeData(dataId: object): void;
}

/** The backend a webgpu kernel is called with. */
export function asWebGpu(backend: unknown): WebGpuBackend {
  return backend as WebGpuBackend;
}
