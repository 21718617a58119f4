import { describe, expect, it } from 'vitest';
import { BroadcastBinary, planBroadcast, type BinaryOp } from '../src/tensor/broadcast-binary.js';

describe('planBroadcast', () => {
  it('views each supported broadcast as [rows, cols] with vector and splat operands', () => {
    const full = (cols: number) => ({ mode: 'vector', rowBytes: cols * 4 });
    expect(planBroadcast([1088, 64], [1088, 64], [1088, 64])).toEqual({ rows: 1, cols: 1088 * 64, a: full(1088 * 64), b: full(1088 * 64) });
    expect(planBroadcast([1088, 64], [64], [1088, 64])).toEqual({ rows: 1088, cols: 64, a: full(64), b: { mode: 'vector', rowBytes: 0 } });
    expect(planBroadcast([1, 64], [8, 17, 64], [8, 17, 64])).toEqual({ rows: 136, cols: 64, a: { mode: 'vector', rowBytes: 0 }, b: full(64) });
    expect(planBroadcast([1088, 64], [1088, 1], [1088, 64])).toEqual({ rows: 1088, cols: 64, a: full(64), b: { mode: 'splat', rowBytes: 4 } });
    expect(planBroadcast([64, 4, 17, 1], [64, 4, 17, 17], [64, 4, 17, 17])).toEqual({ rows: 64 * 4 * 17, cols: 17, a: { mode: 'splat', rowBytes: 4 }, b: full(17) });
    expect(planBroadcast([5, 7], [], [5, 7])).toEqual({ rows: 1, cols: 35, a: full(35), b: { mode: 'splat', rowBytes: 0 } });
    expect(planBroadcast([1, 1], [5, 7], [5, 7])).toEqual({ rows: 1, cols: 35, a: { mode: 'splat', rowBytes: 0 }, b: full(35) });
  });

  it('declines broadcasts it does not cover and empty tensors', () => {
    expect(planBroadcast([4, 1, 3], [1, 5, 3], [4, 5, 3])).toBeNull();
    expect(planBroadcast([2, 3, 4], [3, 1], [2, 3, 4])).toBeNull();
    expect(planBroadcast([0, 4], [4], [0, 4])).toBeNull();
  });
});

describe('BroadcastBinary kernels', () => {
  it('equal a hand-written float32 loop for every op and operand mode, tails included', () => {
    const memory = new WebAssembly.Memory({ initial: 2 });
    const kernels = new BroadcastBinary(memory);
    const heap = new Float32Array(memory.buffer);
    let seed = 3;
    const rnd = (): number => {
      seed = (seed * 16807) % 2147483647;
      return seed / 2147483647 - 0.5;
    };
    const ref: Record<BinaryOp, (x: number, y: number) => number> = {
      add: (x, y) => Math.fround(x + y),
      sub: (x, y) => Math.fround(x - y),
      mul: (x, y) => Math.fround(x * y),
      div: (x, y) => Math.fround(x / y),
    };
    const rows = 5;
    const cols = 11;
    const [A, B, OUT] = [0, 4096, 8192];
    for (let i = 0; i < 1024; i++) {
      heap[A / 4 + i] = Math.fround(rnd() * 10);
      heap[B / 4 + i] = Math.fround(rnd() * 10);
    }
    heap[A / 4] = NaN;
    heap[B / 4 + 1] = 0;
    const cases: Array<[string, 'vector' | 'splat', number, 'vector' | 'splat', number, (r: number, c: number) => number, (r: number, c: number) => number]> = [
      ['full, bias', 'vector', cols * 4, 'vector', 0, (r, c) => r * cols + c, (_, c) => c],
      ['full, per row', 'vector', cols * 4, 'splat', 4, (r, c) => r * cols + c, (r) => r],
      ['per row, full', 'splat', 4, 'vector', cols * 4, (r) => r, (r, c) => r * cols + c],
      ['full, scalar', 'vector', cols * 4, 'splat', 0, (r, c) => r * cols + c, () => 0],
      ['bias, full', 'vector', 0, 'vector', cols * 4, (_, c) => c, (r, c) => r * cols + c],
    ];
    for (const o of ['add', 'sub', 'mul', 'div'] as BinaryOp[]) {
      for (const [label, aMode, aRow, bMode, bRow, ai, bi] of cases) {
        kernels.run(o, { rows, cols, a: { mode: aMode, rowBytes: aRow }, b: { mode: bMode, rowBytes: bRow } }, A, B, OUT);
        for (let r = 0; r < rows; r++) {
          for (let c = 0; c < cols; c++) {
            const want = ref[o](heap[A / 4 + ai(r, c)] as number, heap[B / 4 + bi(r, c)] as number);
            expect(heap[OUT / 4 + r * cols + c], `${o} ${label} at [${r}, ${c}]`).toBe(want);
          }
        }
      }
    }
  });
});
