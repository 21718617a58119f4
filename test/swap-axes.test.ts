import { describe, expect, it } from 'vitest';
import { planAxisSwap, SwapAxes } from '../src/tensor/swap-axes.js';

describe('planAxisSwap', () => {
  it('recognises a swap of two neighbouring axes above the last, and nothing else', () => {
    expect(planAxisSwap([64, 17, 4, 16], [0, 2, 1, 3])).toEqual({ outer: 64, p: 17, q: 4, inner: 16 });
    expect(planAxisSwap([5, 6, 7], [1, 0, 2])).toEqual({ outer: 1, p: 5, q: 6, inner: 7 });
    expect(planAxisSwap([2, 3, 4, 5, 6], [0, 1, 3, 2, 4])).toEqual({ outer: 6, p: 4, q: 5, inner: 6 });
    expect(planAxisSwap([2, 3, 4, 5, 6], [0, 2, 1, 3, 4])).toEqual({ outer: 2, p: 3, q: 4, inner: 30 });
    for (const perm of [[0, 1, 3, 2], [0, 1, 2, 3], [2, 1, 0, 3], [1, 2, 0, 3], [0, 3, 2, 1], [1, 0, 3, 2]]) {
      expect(planAxisSwap([2, 3, 4, 5], perm), `perm ${perm}`).toBeNull();
    }
  });
});

describe('SwapAxes', () => {
  it('equals an index-by-index transpose, with whole-vector and other row lengths', () => {
    const memory = new WebAssembly.Memory({ initial: 2 });
    const kernel = new SwapAxes(memory);
    for (const [outer, p, q, inner] of [[3, 17, 4, 16], [2, 5, 3, 7], [1, 4, 9, 1], [4, 3, 2, 8]] as const) {
      const n = outer * p * q * inner;
      const heap = new Float32Array(memory.buffer);
      const src = 16;
      const dst = src + 4 * n + 64;
      for (let i = 0; i < n; i++) heap[src / 4 + i] = i + 0.5;
      heap[dst / 4 + n] = -1;
      kernel.run(src, dst, outer, p, q, inner);
      for (let o = 0; o < outer; o++) {
        for (let i = 0; i < p; i++) {
          for (let j = 0; j < q; j++) {
            for (let e = 0; e < inner; e++) {
              const from = ((o * p + i) * q + j) * inner + e;
              const to = ((o * q + j) * p + i) * inner + e;
              expect(heap[dst / 4 + to], `[${outer}, ${p}, ${q}, ${inner}] at ${o},${i},${j},${e}`).toBe(from + 0.5);
            }
          }
        }
      }
      expect(heap[dst / 4 + n]).toBe(-1);
    }
  });
});
