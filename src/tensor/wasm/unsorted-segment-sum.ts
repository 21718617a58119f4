import type { KernelFunc, TensorInfo } from '@tensorflow/tfjs-core';
import { asWasm } from '../tfjs-internals.js';
import type { WasmKernel } from './kernel.js';

/** UnsortedSegmentSum, the gradient of gather (embedding lookups), which wasm lacks. */
const unsortedSegmentSumFunc: KernelFunc = (args) => {
  const { x, segmentIds } = args.inputs as { x: TensorInfo; segmentIds: TensorInfo };
  const backend = asWasm(args.backend);
  const numSegments = (args.attrs as { numSegments: number }).numSegments;
  if (x.dtype !== 'float32') throw new Error(`UnsortedSegmentSum (wasm) supports float32 only, got ${x.dtype}`);
  const idsRank = segmentIds.shape.length;
  const inner = x.shape.slice(idsRank).reduce((p, s) => p * s, 1);
  const out = backend.makeOutput([numSegments, ...x.shape.slice(idsRank)], 'float32');
  const outVals = backend.typedArrayFromHeap(out) as Float32Array;
  outVals.fill(0);
  const xVals = backend.typedArrayFromHeap(x) as Float32Array;
  const ids = backend.typedArrayFromHeap(segmentIds) as Int32Array;
  for (let i = 0; i < ids.length; i++) {
    const seg = ids[i] as number;
    // TensorFlow drops out-of-range (e.g. negative) segment ids instead of failing.
    if (seg < 0 || seg >= numSegments) continue;
    const src = i * inner;
    const dst = seg * inner;
    for (let j = 0; j < inner; j++) outVals[dst + j] = (outVals[dst + j] as number) + (xVals[src + j] as number);
  }
  return out;
};

export const unsortedSegmentSum: WasmKernel = {
  kernelName: 'UnsortedSegmentSum',
  kernelFunc: () => unsortedSegmentSumFunc,
};
