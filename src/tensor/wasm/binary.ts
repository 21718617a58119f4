import * as tf from '@tensorflow/tfjs-core';
import type { TensorInfo } from '@tensorflow/tfjs-core';
import { BroadcastBinary, emptyPlan, planBroadcast, type BinaryOp } from '../broadcast-binary.js';
import { asWasm, heapAddress, wasmMemory } from '../tfjs-internals.js';
import { perBackend, type WasmKernel } from './kernel.js';

/** One module holds the loops of all four ops, compiled once per backend for their four kernels. */
const loops = perBackend((backend) => new BroadcastBinary(wasmMemory(backend)));

/**
 * An elementwise op of float32 tensors with equal shapes, or with a bias, a per-row value or a
 * scalar as one operand, as a SIMD loop in place (src/tensor/broadcast-binary.ts): one IEEE
 * operation per element, as in wasm's own kernels, without their slow broadcasting path.
 * Other broadcasts and dtypes go to the stock kernel.
 */
export function broadcastBinary(kernelName: string, o: BinaryOp): WasmKernel {
  return {
    kernelName,
    kernelFunc: ({ backend, stock }) => {
      const original = stock(kernelName);
      const kernels = loops(backend);
      // Planned for every op of a step: one plan object, rewritten each time.
      const reused = emptyPlan();
      return (args) => {
        const { a, b } = args.inputs as { a: TensorInfo; b: TensorInfo };
        if (a.dtype !== 'float32' || b.dtype !== 'float32') return original(args);
        const outShape = tf.backend_util.assertAndGetBroadcastShape(a.shape, b.shape);
        const plan = planBroadcast(a.shape, b.shape, outShape, reused);
        if (!plan) return original(args);
        const wasm = asWasm(args.backend);
        const out = wasm.makeOutput(outShape, 'float32');
        kernels.run(o, plan, heapAddress(wasm, a), heapAddress(wasm, b), heapAddress(wasm, out));
        return out;
      };
    },
  };
}
