import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { gelu } from '../src/model/layers.js';
import { initBackend } from '../src/tensor/backend.js';
import { GELU_SCRATCH_BYTES, GeluKernel } from '../src/tensor/gelu-kernel.js';
import { fusedGeluAvailable } from '../src/tensor/gelu-op.js';
import { KernelModule } from '../src/tensor/kernel-module.js';
import { erffDef, expfDef, writeExpTable } from '../src/tensor/musl-math.js';

/**
 * The GELU kernels and the musl expf/erff they use, against tfjs's own wasm Exp, Erf and
 * Multiply/Add kernels (compiled from musl's C by Emscripten): equal bit for bit.
 */

function sameBits(actual: Float32Array, expected: Float32Array | Uint8Array | Int32Array, inputs: Float32Array, label: string): void {
  expect(actual.length).toBe(expected.length);
  let bad = 0;
  let first = '';
  for (let i = 0; i < actual.length; i++) {
    const a = actual[i] as number;
    const e = expected[i] as number;
    if (Object.is(a, e) || (Number.isNaN(a) && Number.isNaN(e))) continue;
    if (bad++ === 0) first = `at x = ${inputs[i]}: ${a} against ${e}`;
  }
  expect(bad, `${label}: ${bad} of ${actual.length} differ, first ${first}`).toBe(0);
}

/** Every 65537th float32 bit pattern, runs around each branch threshold of expf and erff, and the special values. */
function sweep(): Float32Array {
  const bits: number[] = [];
  for (let b = 0; b < 2 ** 32; b += 65537) bits.push(b);
  for (const t of [0x04000000, 0x31800000, 0x39000000, 0x3eb17218, 0x3f580000, 0x3f851592, 0x3fa00000, 0x4036db6d, 0x40c00000, 0x42aeac50, 0x42b00000, 0x42b17218, 0x42cff1b5, 0x7f800000]) {
    for (let d = -300; d <= 300; d++) bits.push(t + d, (t + d) | 0x80000000);
  }
  const out = new Float32Array(new Uint32Array(bits.map((b) => b >>> 0)).buffer);
  return Float32Array.from([...out, 0, -0, Infinity, -Infinity, NaN, 1e-45, -1e-45, 88.72, -103.97, 6, -6]);
}

function composedGelu(x: tf.Tensor): tf.Tensor {
  return tf.mul(tf.mul(x, 0.5), tf.add(1, tf.erf(tf.mul(x, Math.SQRT1_2))));
}

function gaussianish(n: number, scale: number, seed: number): Float32Array {
  let s = seed;
  const u = (): number => {
    s = (s * 16807) % 2147483647;
    return s / 2147483647;
  };
  return Float32Array.from({ length: n }, () => (u() + u() + u() - 1.5) * scale);
}

beforeAll(async () => {
  await initBackend('wasm', 'exact');
});

/** The scalar expf and erff, instantiated on their own memory with the table at 0. */
function scalarFunctions(): { expf: (x: number) => number; erff: (x: number) => number } {
  const memory = new WebAssembly.Memory({ initial: 1 });
  const module = new KernelModule([expfDef(0), erffDef(0)], memory);
  writeExpTable(memory.buffer, 0);
  return { expf: module.func('expf'), erff: module.func('erff') };
}

describe('musl expf and erff (src/tensor/musl-math.ts)', () => {
  it('equal the wasm backend Exp and Erf on a sweep of float32 bit patterns', () => {
    const { expf, erff } = scalarFunctions();
    const xs = sweep();
    const x = tf.tensor1d(xs);
    const [e, r] = [tf.exp(x), tf.erf(x)];
    sameBits(Float32Array.from(xs, expf), e.dataSync() as Float32Array, xs, 'expf');
    sameBits(Float32Array.from(xs, erff), r.dataSync() as Float32Array, xs, 'erff');
    tf.dispose([x, e, r]);
  });

  it('expf and erff are close to the true functions (an independent check of the transcription)', () => {
    const { expf, erff } = scalarFunctions();
    // erf by its Maclaurin series, in double, for |x| <= 3.
    const erf = (x: number): number => {
      let term = x;
      let sum = x;
      for (let k = 1; k < 200; k++) {
        term *= (-x * x) / k;
        sum += term / (2 * k + 1);
      }
      return (2 / Math.sqrt(Math.PI)) * sum;
    };
    for (let x = -3; x <= 3; x += 0.0137) {
      const xf = Math.fround(x);
      expect(Math.abs(erff(xf) - erf(xf))).toBeLessThan(1.2e-7);
      expect(Math.abs(expf(xf) / Math.exp(xf) - 1)).toBeLessThan(1.2e-7);
    }
  });
});

describe('GELU kernels (src/tensor/gelu-kernel.ts)', () => {
  it('forward and backward (four lanes at a time, the tail through scratch) equal the tfjs composition and its autodiff bit for bit, on the float32 sweep too', () => {
    const xs = Float32Array.from([...gaussianish(5000, 3, 7), ...gaussianish(3000, 12, 8), ...sweep(), 0, -0, NaN, Infinity, -Infinity, 1e-30, -1e-38, 200, -200, 8.5, -8.5]);
    expect(xs.length % 4).not.toBe(0);
    const dys = gaussianish(xs.length, 1, 9);
    const n = xs.length;
    const memory = new WebAssembly.Memory({ initial: 1 + Math.ceil((20 * xs.length + GELU_SCRATCH_BYTES) / 65536) });
    const kernel = new GeluKernel(memory, 0);
    const heap = new Float32Array(memory.buffer);
    const [px, py, pb, pdy, pdx] = [0, 1, 2, 3, 4].map((i) => GELU_SCRATCH_BYTES + 4 * n * i) as [number, number, number, number, number];
    heap.set(xs, px / 4);
    heap.set(dys, pdy / 4);
    // The tail goes through scratch: nothing may be written past the last output.
    heap[pdx / 4 + n] = 42;
    kernel.forward(px, py, pb, n);
    kernel.backward(px, pb, pdy, pdx, n);
    const at = (p: number): Float32Array => heap.slice(p / 4, p / 4 + n);

    const x = tf.tensor1d(xs);
    const dy = tf.tensor1d(dys);
    const y = composedGelu(x);
    const b = tf.add(1, tf.erf(tf.mul(x, Math.SQRT1_2)));
    const dx = tf.grad((t: tf.Tensor) => composedGelu(t))(x, dy);
    sameBits(at(py), y.dataSync() as Float32Array, xs, 'gelu(x)');
    sameBits(at(pb), b.dataSync() as Float32Array, xs, '1 + erf(x / sqrt 2)');
    sameBits(at(pdx), dx.dataSync() as Float32Array, xs, 'gelu gradient');
    expect(heap[pdx / 4 + n]).toBe(42);
    tf.dispose([x, dy, y, b, dx]);
  });

  it('refuses a scratch address that is not 8-byte aligned', () => {
    expect(() => new GeluKernel(new WebAssembly.Memory({ initial: 1 }), 4)).toThrow(/not 8-byte aligned/);
  });
});

describe('the model gelu (src/model/layers.ts) on wasm', () => {
  it('runs the fused kernels and matches the composition and its gradient, without leaking tensors', () => {
    expect(fusedGeluAvailable()).toBe(true);
    const xs = gaussianish(64 * 17 * 3, 2, 11);
    const x = tf.tensor2d(xs, [64, 51]);
    const dy = tf.tensor2d(gaussianish(xs.length, 1, 12), [64, 51]);
    const before = tf.memory().numTensors;
    for (let i = 0; i < 3; i++) {
      tf.tidy(() => {
        sameBits(gelu(x).dataSync() as Float32Array, composedGelu(x).dataSync() as Float32Array, xs, 'value');
        const fused = tf.grad((t: tf.Tensor) => gelu(t))(x, dy);
        const composed = tf.grad((t: tf.Tensor) => composedGelu(t))(x, dy);
        sameBits(fused.dataSync() as Float32Array, composed.dataSync() as Float32Array, xs, 'gradient');
      });
    }
    const noTape = gelu(x);
    noTape.dispose();
    expect(tf.memory().numTensors).toBe(before);
    tf.dispose([x, dy]);
  });

  it('composes tfjs ops on backends without the kernels (cpu)', async () => {
    await tf.setBackend('cpu');
    try {
      expect(fusedGeluAvailable()).toBe(false);
      const y = gelu(tf.tensor1d([-1, 0, 1]));
      const v = y.dataSync();
      expect(v[1]).toBe(0);
      expect(v[2] as number).toBeCloseTo(0.8413447, 5);
      y.dispose();
    } finally {
      await tf.setBackend('wasm');
    }
  });
});
