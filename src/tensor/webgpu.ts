/**
 * The webgpu backend in Node: TensorFlow.js's WebGPU backend on Dawn's binding (npm `webgpu`), on
 * any Vulkan driver (a GPU's, or Mesa's lavapipe on the CPU). Made deterministic: float atomics
 * sum in whatever order threads arrive, so the kernels that use them for the models' ops are
 * fixed to, or replaced by, ones that sum in one order.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { KernelFunc, NamedAttrMap, NamedTensorInfoMap, TensorInfo } from '@tensorflow/tfjs-core';
import { createRequire } from 'node:module';
import { asWebGpu, assertTfjsRelease, type WebGpuProgram } from './tfjs-internals.js';

export interface WebGpuAdapter {
  vendor: string;
  architecture: string;
  device: string;
  /** Dawn's description: for Vulkan it names the driver and its version. */
  description: string;
  /** A CPU implementation (lavapipe's llvmpipe, SwiftShader): correct, but slower than wasm. */
  software: boolean;
  /** The `webgpu` package (Dawn's Node binding) that found it. */
  dawnPackage: string;
}

/** What to install when no adapter is found, for one-line messages. */
export const NO_ADAPTER =
  "no WebGPU adapter: install a Vulkan driver (a GPU's, or Mesa's lavapipe: mesa-vulkan-drivers 25 from Debian's bookworm-backports; 22.3 from bookworm is too old for Dawn)";

const require = createRequire(import.meta.url);

interface GpuAdapterInfo {
  vendor?: string;
  architecture?: string;
  device?: string;
  description?: string;
  isFallbackAdapter?: boolean;
}

/** Finds an adapter through Dawn and installs navigator.gpu for tfjs-webgpu; null when there is none. */
export async function findWebGpuAdapter(): Promise<WebGpuAdapter | null> {
  const { create, globals } = (await import('webgpu')) as { create: (flags: string[]) => { requestAdapter(): Promise<{ info: GpuAdapterInfo } | null> }; globals: object };
  // tfjs-webgpu reads GPUBufferUsage and friends from the global scope, as in a browser.
  Object.assign(globalThis, globals);
  const gpu = create([]);
  const adapter = await gpu.requestAdapter();
  if (!adapter) return null;
  const g = globalThis as { navigator?: { gpu?: unknown } };
  if (g.navigator) g.navigator.gpu = gpu;
  else Object.defineProperty(globalThis, 'navigator', { value: { gpu }, configurable: true, writable: true });
  const info = adapter.info;
  return {
    vendor: info.vendor ?? '',
    architecture: info.architecture ?? '',
    device: info.device ?? '',
    description: info.description ?? '',
    software: info.isFallbackAdapter === true || info.architecture === 'software',
    dawnPackage: `webgpu ${(require('webgpu/package.json') as { version: string }).version}`,
  };
}

/** Selects webgpu (after findWebGpuAdapter) and makes it deterministic. */
export async function useWebGpu(): Promise<boolean> {
  const { webgpu_util } = await import('@tensorflow/tfjs-backend-webgpu');
  assertTfjsRelease('webgpu');
  if (!(await tf.setBackend('webgpu'))) return false;
  // The split-K program, chosen by shape otherwise, adds partial sums with float atomics; the
  // packed one sums each output in one thread, in one order.
  tf.env().set('WEBGPU_MATMUL_PROGRAM_TYPE', webgpu_util.MatMulProgramType.MatMulPackedProgram);
  installDeterministicSegmentSum();
  return true;
}

/**
 * UnsortedSegmentSum (the gradient of gather, i.e. of token embeddings) with one thread per row
 * adding its inputs in index order into its own outputs: no atomics, so the same bits every time,
 * and the cpu backend's order of additions.
 */
class OrderedSegmentSumProgram implements WebGpuProgram {
  readonly variableNames = ['x', 'segmentIds'];
  readonly uniforms = 'numSegments : i32, rows : i32, inSize : i32,';
  readonly workgroupSize: [number, number, number] = [64, 1, 1];
  readonly shaderKey = 'fedpftOrderedSegmentSum';
  readonly outputShape: number[];
  readonly dispatchLayout: { x: number[] };
  readonly dispatch: [number, number, number];

  constructor(rows: number, numSegments: number) {
    this.outputShape = [rows, numSegments];
    this.dispatchLayout = { x: [0] };
    this.dispatch = [Math.ceil(rows / this.workgroupSize[0]), 1, 1];
  }

  getUserCode(): string {
    return `
      fn main(index : i32) {
        if (index < uniforms.rows) {
          for (var i = 0; i < uniforms.inSize; i = i + 1) {
            let segmentId = i32(getSegmentIds(i));
            if (segmentId >= 0) {
              let flatIndex = index * uniforms.numSegments + segmentId % uniforms.numSegments;
              result[flatIndex] = result[flatIndex] + getX(index, i);
            }
          }
        }
      }
    `;
  }
}

function runKernel(name: string, backend: object, inputs: NamedTensorInfoMap, attrs: NamedAttrMap): TensorInfo {
  const kernel = tf.getKernel(name, 'webgpu');
  if (!kernel) throw new Error(`webgpu: kernel ${name} is not registered`);
  return kernel.kernelFunc({ inputs, backend, attrs }) as TensorInfo;
}

const orderedSegmentSum: KernelFunc = (args) => {
  const { x, segmentIds } = args.inputs as { x: TensorInfo; segmentIds: TensorInfo };
  const { numSegments } = args.attrs as { numSegments: number };
  const backend = asWebGpu(args.backend);
  const rank = x.shape.length;
  const temps: TensorInfo[] = [];
  // Segments run along axis 0; put it innermost so each row of the 2-D view is one output row.
  const perm = tf.backend_util.getAxesPermutation([0], rank);
  let permuted = x;
  let axis = 0;
  if (perm !== null) {
    permuted = runKernel('Transpose', backend, { x }, { perm });
    temps.push(permuted);
    axis = tf.backend_util.getInnerMostAxes(1, rank)[0] as number;
  }
  const outShape = tf.backend_util.segment_util.computeOutShape(permuted.shape, axis, numSegments);
  const inSize = permuted.shape[axis] as number;
  const a2d = runKernel('Reshape', backend, { x: permuted }, { shape: [-1, inSize] });
  temps.push(a2d);
  const rows = a2d.shape[0] as number;
  const output = runKernel('Fill', backend, {}, { shape: [rows, numSegments], value: 0, dtype: x.dtype });
  const program = new OrderedSegmentSumProgram(rows, numSegments);
  const summed = backend.runWebGPUProgram(program, [a2d, segmentIds], x.dtype, [
    { type: 'int32', data: [numSegments] },
    { type: 'int32', data: [rows] },
    { type: 'int32', data: [inSize] },
  ], output);
  temps.push(summed);
  let result = runKernel('Reshape', backend, { x: summed }, { shape: outShape });
  if (perm !== null) {
    temps.push(result);
    result = runKernel('Transpose', backend, { x: result }, { perm: tf.backend_util.getUndoAxesPermutation(perm) });
  }
  for (const t of temps) backend.disposeData(t.dataId);
  return result;
};

function installDeterministicSegmentSum(): void {
  tf.unregisterKernel(tf.UnsortedSegmentSum, 'webgpu');
  tf.registerKernel({ kernelName: tf.UnsortedSegmentSum, backendName: 'webgpu', kernelFunc: orderedSegmentSum });
}
