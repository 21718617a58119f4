import type { GradFunc, KernelFunc } from '@tensorflow/tfjs-core';
import type { Sgemm } from '../blas.js';
import type { WasmBackend } from '../tfjs-internals.js';

/** What the project's wasm kernels are built from when they install (src/tensor/wasm/register.ts). */
export interface WasmKernelEnv {
  backend: WasmBackend;
  /** The `fast` kernel set's float32 products (OpenBLAS, src/tensor/blas.ts); absent in the `exact` set. */
  sgemm: Sgemm | undefined;
  /**
   * tfjs's own kernel under `name`, as registered before any replacement: what a replacement runs
   * outside the cases it handles, whatever the order the list installs them in.
   */
  stock(name: string): KernelFunc;
}

/** A kernel the project registers for wasm: a replacement of tfjs's under the same name, or an addition. */
export interface WasmKernel {
  kernelName: string;
  kernelFunc(env: WasmKernelEnv): KernelFunc;
}

/** A gradient for wasm only; it saves what tfjs's gradient of the kernel saves. */
export interface WasmGradient {
  kernelName: string;
  gradFunc: GradFunc;
}

/** One instance per wasm backend, shared by the kernels that use it (one compiled module, one scratch block). */
export function perBackend<T>(make: (backend: WasmBackend) => T): (backend: WasmBackend) => T {
  const made = new WeakMap<WasmBackend, T>();
  return (backend) => {
    let instance = made.get(backend);
    if (instance === undefined) {
      instance = make(backend);
      made.set(backend, instance);
    }
    return instance;
  };
}
