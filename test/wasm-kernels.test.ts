import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../src/tensor/backend.js';
import { assertTfjsRelease, checkTfjsVersions, TFJS_RELEASE, TfjsReleaseError } from '../src/tensor/tfjs-internals.js';
import { Rng } from '../src/util/rng.js';
import { expectClose, randomNormal } from './helpers/numeric.js';
import { REPO } from './helpers/tiny-run.js';

/**
 * The wasm kernel fixes (src/tensor/wasm/) against tfjs's cpu backend, which has
 * its own, untouched BatchMatMul and UnsortedSegmentSum. Each computation runs on cpu first,
 * is read into plain arrays, then runs on wasm with the same inputs.
 */

type BackendName = 'cpu' | 'wasm';

interface Result {
  shape: number[];
  data: Float32Array;
}

async function runOn(backend: BackendName, fn: () => tf.Tensor[]): Promise<Result[]> {
  expect(await tf.setBackend(backend)).toBe(true);
  expect(tf.getBackend()).toBe(backend);
  const tensors = tf.tidy(fn);
  const out = tensors.map((t) => ({ shape: t.shape.slice(), data: Float32Array.from(t.dataSync()) }));
  tf.dispose(tensors);
  return out;
}

async function compareBackends(fn: () => tf.Tensor[], tol: number, labels: string[]): Promise<Result[]> {
  const cpu = await runOn('cpu', fn);
  const wasm = await runOn('wasm', fn);
  expect(wasm.length).toBe(cpu.length);
  for (let i = 0; i < cpu.length; i++) {
    const label = labels[i] ?? `output ${i}`;
    expect(wasm[i]?.shape, `${label}: shape`).toEqual(cpu[i]?.shape);
    expectClose(wasm[i]?.data as Float32Array, cpu[i]?.data as Float32Array, tol, label);
  }
  return cpu;
}

const size = (shape: readonly number[]): number => shape.reduce((a, b) => a * b, 1);

/** Output shape of matMul(a, b, tA, tB) with numpy broadcasting of the batch dims, computed by hand. */
function matMulShape(aShape: number[], bShape: number[], tA: boolean, tB: boolean): number[] {
  const ar = aShape.length;
  const br = bShape.length;
  const m = tA ? aShape[ar - 1] : aShape[ar - 2];
  const n = tB ? bShape[br - 2] : bShape[br - 1];
  const aBatch = aShape.slice(0, -2);
  const bBatch = bShape.slice(0, -2);
  const rank = Math.max(aBatch.length, bBatch.length);
  const batch: number[] = [];
  for (let i = 0; i < rank; i++) {
    const x = aBatch[aBatch.length - rank + i] ?? 1;
    const y = bBatch[bBatch.length - rank + i] ?? 1;
    batch.push(Math.max(x, y));
  }
  return [...batch, m as number, n as number];
}

interface MatMulCase {
  name: string;
  a: number[];
  b: number[];
  tA: boolean;
  tB: boolean;
}

/**
 * Gradients of matMul w.r.t. both inputs for upstream gradient dy. tfjs-core's BatchMatMul
 * gradient does not sum over broadcast batch dims (it fails its own shape check on both
 * backends), so an input whose batch dims are broadcast is first broadcast explicitly with
 * tf.broadcastTo, whose gradient does the summing; the backward matMuls still run on the
 * kernel under test. When neither input is broadcast this is plain tf.grads.
 */
function matMulGrads(c: MatMulCase, a: tf.Tensor, b: tf.Tensor, dy: tf.Tensor): [tf.Tensor, tf.Tensor] {
  const outBatch = matMulShape(c.a, c.b, c.tA, c.tB).slice(0, -2);
  const full = (shape: number[]): number[] => [...outBatch, ...shape.slice(-2)];
  const broadcastA = c.a.join(',') !== full(c.a).join(',');
  const broadcastB = c.b.join(',') !== full(c.b).join(',');
  if (!broadcastA && !broadcastB) {
    const [da, db] = tf.grads((x: tf.Tensor, w: tf.Tensor) => tf.matMul(x, w, c.tA, c.tB))([a, b], dy);
    return [da as tf.Tensor, db as tf.Tensor];
  }
  const da = tf.grad((x: tf.Tensor) => tf.matMul(broadcastA ? tf.broadcastTo(x, full(c.a)) : x, b, c.tA, c.tB))(a, dy);
  const db = tf.grad((w: tf.Tensor) => tf.matMul(a, broadcastB ? tf.broadcastTo(w, full(c.b)) : w, c.tA, c.tB))(b, dy);
  return [da, db];
}

const COMBOS: [boolean, boolean][] = [
  [false, false],
  [true, false],
  [false, true],
  [true, true],
];

/** [m, k] x [k, n] in the layout the transpose flags ask for, with batch dims in front. */
function combos(name: string, aBatch: number[], bBatch: number[], m: number, k: number, n: number): MatMulCase[] {
  return COMBOS.map(([tA, tB]) => ({
    name: `${name} tA=${tA} tB=${tB}`,
    a: [...aBatch, ...(tA ? [k, m] : [m, k])],
    b: [...bBatch, ...(tB ? [n, k] : [k, n])],
    tA,
    tB,
  }));
}

const MATMUL_CASES: MatMulCase[] = [
  ...combos('2-D [5,7]x[7,3]', [], [], 5, 7, 3),
  ...combos('rank-3 A x rank-2 B (fold)', [3], [], 5, 7, 4),
  ...combos('rank-3 A x rank-3 batch-1 B (fold)', [3], [1], 5, 7, 4),
  ...combos('both batched rank-3', [3], [3], 5, 7, 4),
  ...combos('rank-2 A x batched rank-3 B', [], [3], 5, 4, 6),
  { name: 'attention ctx [2,4,17,16]x[2,4,16,17]', a: [2, 4, 17, 16], b: [2, 4, 16, 17], tA: false, tB: false },
  { name: 'attention scores q k^T [2,4,17,16]x[2,4,17,16]^T', a: [2, 4, 17, 16], b: [2, 4, 17, 16], tA: false, tB: true },
  { name: 'broadcast batch [2,3,5,4]x[1,4,6]', a: [2, 3, 5, 4], b: [1, 4, 6], tA: false, tB: false },
  { name: 'broadcast batch [2,3,5,4]x[1,4,6] tA tB', a: [2, 3, 4, 5], b: [1, 6, 4], tA: true, tB: true },
  { name: 'rank-4 A x rank-2 B [2,3,5,4]x[4,6]', a: [2, 3, 5, 4], b: [4, 6], tA: false, tB: false },
  { name: 'rank-4 A x rank-4 batch-1 B [2,3,5,4]x[1,1,4,6]', a: [2, 3, 5, 4], b: [1, 1, 4, 6], tA: false, tB: false },
];

beforeAll(async () => {
  const info = await initBackend('wasm', 'exact');
  expect(info.name).toBe('wasm');
  // Both backends stay registered; the tests switch between them.
  expect(tf.findBackend('cpu')).toBeTruthy();
});

describe('wasm BatchMatMul wrapper', () => {
  it('is installed together with the UnsortedSegmentSum kernel', () => {
    expect(tf.getKernel('BatchMatMul', 'wasm')).toBeDefined();
    expect(tf.getKernel('UnsortedSegmentSum', 'wasm')).toBeDefined();
  });

  for (const c of MATMUL_CASES) {
    it(`matches cpu: ${c.name} (value and gradients)`, async () => {
      const rng = new Rng(`matmul/${c.name}`);
      const outShape = matMulShape(c.a, c.b, c.tA, c.tB);
      const aData = randomNormal(rng, size(c.a));
      const bData = randomNormal(rng, size(c.b));
      const dyData = randomNormal(rng, size(outShape));
      const results = await compareBackends(
        () => {
          const a = tf.tensor(aData, c.a, 'float32');
          const b = tf.tensor(bData, c.b, 'float32');
          const dy = tf.tensor(dyData, outShape, 'float32');
          const y = tf.matMul(a, b, c.tA, c.tB);
          const [da, db] = matMulGrads(c, a, b, dy);
          return [y, da, db];
        },
        1e-4,
        ['value', 'grad a', 'grad b'],
      );
      expect(results[0]?.shape).toEqual(outShape);
      expect(results[1]?.shape).toEqual(c.a);
      expect(results[2]?.shape).toEqual(c.b);
    });
  }

  it('2-D values also match a hand-written triple loop', async () => {
    const rng = new Rng('matmul/loop');
    const [m, k, n] = [6, 9, 5];
    const aData = randomNormal(rng, k * m); // stored [k, m], used transposed
    const bData = randomNormal(rng, n * k); // stored [n, k], used transposed
    const expected = new Float64Array(m * n);
    for (let i = 0; i < m; i++) {
      for (let j = 0; j < n; j++) {
        let s = 0;
        for (let p = 0; p < k; p++) s += (aData[p * m + i] as number) * (bData[j * k + p] as number);
        expected[i * n + j] = s;
      }
    }
    const [wasm] = await runOn('wasm', () => [tf.matMul(tf.tensor2d(aData, [k, m]), tf.tensor2d(bData, [n, k]), true, true)]);
    expect(wasm?.shape).toEqual([m, n]);
    expectClose(wasm?.data as Float32Array, expected, 1e-5, 'loop');
  });
});

/** Plain-loop reference: out[ids[i], ...] += x[i, ...], out-of-range ids dropped. */
function segmentSumReference(x: Float32Array, ids: readonly number[], inner: number, numSegments: number): Float64Array {
  const out = new Float64Array(numSegments * inner);
  ids.forEach((seg, i) => {
    if (seg < 0 || seg >= numSegments) return;
    for (let j = 0; j < inner; j++) out[seg * inner + j] = (out[seg * inner + j] as number) + (x[i * inner + j] as number);
  });
  return out;
}

describe('wasm UnsortedSegmentSum', () => {
  const cases: { name: string; shape: number[]; ids: number[]; numSegments: number }[] = [
    { name: '1-D, repeated ids, an empty segment', shape: [6], ids: [0, 2, 0, 1, 2, 2], numSegments: 4 },
    { name: 'inner shape [3,2], repeated ids', shape: [6, 3, 2], ids: [3, 0, 3, 3, 1, 0], numSegments: 5 },
    { name: 'inner shape [4], all into one segment', shape: [5, 4], ids: [1, 1, 1, 1, 1], numSegments: 2 },
  ];
  for (const c of cases) {
    it(`matches cpu and a loop: ${c.name}`, async () => {
      const rng = new Rng(`segsum/${c.name}`);
      const xData = randomNormal(rng, size(c.shape));
      const [cpu] = await compareBackends(
        () => [tf.unsortedSegmentSum(tf.tensor(xData, c.shape, 'float32'), tf.tensor1d(c.ids, 'int32'), c.numSegments)],
        1e-5,
        ['segment sum'],
      );
      expect(cpu?.shape).toEqual([c.numSegments, ...c.shape.slice(1)]);
      const [wasm] = await runOn('wasm', () => [
        tf.unsortedSegmentSum(tf.tensor(xData, c.shape, 'float32'), tf.tensor1d(c.ids, 'int32'), c.numSegments),
      ]);
      expectClose(wasm?.data as Float32Array, segmentSumReference(xData, c.ids, size(c.shape.slice(1)), c.numSegments), 1e-5, 'loop');
    });
  }

  it('gives the gradient of tf.gather (embedding lookup) as on cpu', async () => {
    const rng = new Rng('gather-grad');
    const vocab = 7;
    const dim = 5;
    const ids = [
      [1, 3, 1],
      [6, 0, 1],
    ];
    const table = randomNormal(rng, vocab * dim);
    const weights = randomNormal(rng, ids.length * 3 * dim);
    const [cpuGrad] = await compareBackends(
      () => {
        const w = tf.tensor3d(weights, [2, 3, dim]);
        const idx = tf.tensor2d(ids, [2, 3], 'int32');
        const g = tf.grad((t: tf.Tensor) => tf.sum(tf.mul(tf.gather(t, idx), w)))(tf.tensor2d(table, [vocab, dim]));
        return [g];
      },
      1e-5,
      ['embedding grad'],
    );
    // Independent check: row r of the gradient sums the weights of every position that looked up r.
    const expected = new Float64Array(vocab * dim);
    ids.flat().forEach((r, pos) => {
      for (let j = 0; j < dim; j++) expected[r * dim + j] = (expected[r * dim + j] as number) + (weights[pos * dim + j] as number);
    });
    expectClose(cpuGrad?.data as Float32Array, expected, 1e-5, 'reference');
  });

  it('gives the gradient of tf.gather along axis 1 (inner shape through transposes)', async () => {
    const rng = new Rng('gather-grad-axis1');
    const table = randomNormal(rng, 3 * 6 * 2);
    const ids = [5, 0, 5, 2];
    const weights = randomNormal(rng, 3 * ids.length * 2);
    await compareBackends(
      () => {
        const w = tf.tensor3d(weights, [3, ids.length, 2]);
        const idx = tf.tensor1d(ids, 'int32');
        return [tf.grad((t: tf.Tensor) => tf.sum(tf.mul(tf.gather(t, idx, 1), w)))(tf.tensor3d(table, [3, 6, 2]))];
      },
      1e-5,
      ['embedding grad axis 1'],
    );
  });
});

describe('wasm GatherV2 (rows of an embedding table)', () => {
  const table = randomNormal(new Rng('gather/table'), 7 * 2 * 3);
  it.each([
    ['axis 0, 1-D ids', 0, [6, 0, 6, 3]],
    ['axis 0, 2-D ids', 0, [[1, 2, 1], [0, 6, 5]]],
    ['axis 1 (the original kernel)', 1, [1, 0, 1]],
  ] as const)('matches cpu: %s', async (_label, axis, ids) => {
    const [out] = await compareBackends(() => [tf.gather(tf.tensor3d(table, [7, 2, 3]), tf.tensor(ids as unknown as number[], undefined, 'int32'), axis)], 0, ['gather']);
    if (axis === 0) {
      // Independent: output row i is table row ids[i].
      const flat = (ids as unknown as number[]).flat();
      const expected = Float32Array.from(flat.flatMap((r) => Array.from(table.subarray(r * 6, (r + 1) * 6))));
      expect(out?.data).toEqual(expected);
    }
  });

  it('rejects an index outside the table without leaking the output', async () => {
    await tf.setBackend('wasm');
    const before = tf.backend().numDataIds();
    const x = tf.tensor2d(table, [7, 6]);
    const ids = tf.tensor1d([2, 7], 'int32');
    expect(() => tf.gather(x, ids)).toThrow(/index value 7 is not in \[0, 6\]/);
    tf.dispose([x, ids]);
    expect(tf.backend().numDataIds()).toBe(before);
  });
});

describe('tensors saved for the backward pass on wasm', () => {
  it('are new references to the same data, taken without the Identity kernel, and all released after the gradient', async () => {
    await tf.setBackend('wasm');
    const identity = tf.getKernel('Identity', 'wasm');
    expect(identity).toBeDefined();
    let identityCalls = 0;
    tf.unregisterKernel('Identity', 'wasm');
    tf.registerKernel({ ...(identity as tf.KernelConfig), kernelFunc: (args) => (identityCalls++, (identity as tf.KernelConfig).kernelFunc(args)) });
    try {
      const a = tf.tensor2d([1, 2, 3, 4, 5, 6], [2, 3]);
      const b = tf.tensor2d([0.5, -1, 2, 0.25, 3, -2], [3, 2]);
      const dataBefore = tf.backend().numDataIds();
      const tensorsBefore = tf.memory().numTensors;
      // matMul saves both inputs; mul saves both; the gradient must still see their values.
      const [da, db] = tf.grads((x: tf.Tensor, y: tf.Tensor) => tf.mul(tf.matMul(x, y), tf.matMul(x, y)).sum())([a, b]);
      expect(identityCalls).toBe(0);
      // d/dx sum((xy)^2) = 2 (xy) y^T and d/dy = 2 x^T (xy), by plain loops.
      const x = [[1, 2, 3], [4, 5, 6]];
      const y = [[0.5, -1], [2, 0.25], [3, -2]];
      const xy = x.map((row) => [0, 1].map((j) => row.reduce((acc, v, k) => acc + v * (y[k]?.[j] as number), 0)));
      const wantA = x.flatMap((_, i) => [0, 1, 2].map((k) => 2 * [0, 1].reduce((acc, j) => acc + (xy[i]?.[j] as number) * (y[k]?.[j] as number), 0)));
      const wantB = y.flatMap((_, k) => [0, 1].map((j) => 2 * [0, 1].reduce((acc, i) => acc + (x[i]?.[k] as number) * (xy[i]?.[j] as number), 0)));
      expect(Array.from(da?.dataSync() ?? [])).toEqual(wantA);
      expect(Array.from(db?.dataSync() ?? [])).toEqual(wantB);
      tf.dispose([da as tf.Tensor, db as tf.Tensor]);
      expect(tf.memory().numTensors).toBe(tensorsBefore);
      expect(tf.backend().numDataIds()).toBe(dataBefore);
      tf.dispose([a, b]);
    } finally {
      tf.unregisterKernel('Identity', 'wasm');
      tf.registerKernel(identity as tf.KernelConfig);
    }
  });
});

describe('wasm Identity and same-dtype Cast share data', () => {
  it('give the same values without a new buffer, and casts to another dtype still convert as on cpu', async () => {
    const data = [1.5, -2.25, 3.75, -0.5];
    const [convert] = await compareBackends(() => [tf.cast(tf.cast(tf.tensor1d(data), 'int32'), 'float32')], 0, ['float -> int32 -> float']);
    expect(Array.from(convert?.data ?? [])).toEqual([1, -2, 3, 0]);
    await tf.setBackend('wasm');
    const x = tf.tensor1d(data);
    const before = tf.backend().numDataIds();
    const same = tf.cast(x, 'float32');
    const copy = tf.clone(x);
    // Shared: no new data id, and the values are the input's.
    expect(tf.backend().numDataIds()).toBe(before);
    expect(Array.from(same.dataSync())).toEqual(data);
    expect(Array.from(copy.dataSync())).toEqual(data);
    // Disposing the input leaves the sharers intact (reference counted).
    x.dispose();
    expect(Array.from(same.dataSync())).toEqual(data);
    tf.dispose([same, copy]);
    expect(tf.backend().numDataIds()).toBe(before - 1);
  });
});

describe('wasm kernels leave nothing behind', () => {
  it('keeps tf.memory().numTensors and the backend data count unchanged', async () => {
    await tf.setBackend('wasm');
    const rng = new Rng('leak');
    const inputs = MATMUL_CASES.map((c) => ({
      c,
      a: randomNormal(rng, size(c.a)),
      b: randomNormal(rng, size(c.b)),
      dy: randomNormal(rng, size(matMulShape(c.a, c.b, c.tA, c.tB))),
    }));
    const x = randomNormal(rng, 6 * 3 * 2);
    const tensorsBefore = tf.memory().numTensors;
    const dataBefore = tf.backend().numDataIds();
    tf.tidy(() => {
      for (const { c, a, b, dy } of inputs) {
        const ta = tf.tensor(a, c.a, 'float32');
        const tb = tf.tensor(b, c.b, 'float32');
        const y = tf.matMul(ta, tb, c.tA, c.tB);
        matMulGrads(c, ta, tb, tf.tensor(dy, y.shape, 'float32'));
      }
      tf.unsortedSegmentSum(tf.tensor3d(x, [6, 3, 2]), tf.tensor1d([3, 0, 3, 3, 1, 0], 'int32'), 5);
      tf.grad((t: tf.Tensor) => tf.sum(tf.gather(t, tf.tensor1d([1, 1, 2], 'int32'))))(tf.ones([4, 3]));
    });
    expect(tf.memory().numTensors).toBe(tensorsBefore);
    expect(tf.backend().numDataIds()).toBe(dataBefore);
  });
});

describe('wasm with the speed fixes switched off (the bench comparison)', () => {
  it('still has UnsortedSegmentSum, so embedding gradients (text FMs) work', async () => {
    const script = `
      const { initBackend } = await import(${JSON.stringify(join(REPO, 'dist/src/tensor/backend.js'))});
      const info = await initBackend('wasm', 'exact');
      const tf = await import('@tensorflow/tfjs-core');
      const table = tf.variable(tf.tensor2d([[1, 2], [3, 4], [5, 6]]));
      const g = tf.grad((t) => tf.sum(tf.gather(t, tf.tensor1d([2, 0, 2], 'int32'))))(table);
      console.log(JSON.stringify({ name: info.name, grad: Array.from(g.dataSync()) }));
    `;
    const out = execFileSync(process.execPath, ['--input-type=module', '-e', script], { cwd: join(REPO, 'dist'), env: { ...process.env, FEDPFT_WASM_KERNEL_FIXES: 'off' } });
    const result = JSON.parse(out.toString()) as { name: string; grad: number[] };
    expect(result.name).toBe('wasm (stock kernels)');
    // Row 0 gathered once, row 2 twice, row 1 never: d sum / d table by hand.
    expect(result.grad).toEqual([1, 1, 0, 0, 2, 2]);
  });
});

/**
 * Runs `body` (module code with `tf`, `rnd` (seeded) and `info` in scope, ending with
 * `outs`, an array of tensors) in two child processes, with the project's kernels and with
 * tfjs's stock wasm kernels, and returns both processes' output bits.
 */
function runWithAndWithoutFixes(body: string): { project: string[]; stock: string[] } {
  const script = `
    const { initBackend } = await import(${JSON.stringify(join(REPO, 'dist/src/tensor/backend.js'))});
    const info = await initBackend('wasm', 'exact');
    const tf = await import('@tensorflow/tfjs-core');
    let seed = 7;
    const rnd = (n) => Float32Array.from({ length: n }, () => { seed = (seed * 16807) % 2147483647; return (seed / 2147483647 - 0.5) * 10 ** ((seed % 5) - 2); });
    ${body}
    console.log(JSON.stringify({ name: info.name, bits: outs.map((t) => Buffer.from(t.dataSync().buffer).toString('base64')) }));
  `;
  const run = (fixes: 'on' | 'off') => {
    const out = execFileSync(process.execPath, ['--input-type=module', '-e', script], { cwd: join(REPO, 'dist'), env: { ...process.env, FEDPFT_WASM_KERNEL_FIXES: fixes } });
    return JSON.parse(out.toString()) as { name: string; bits: string[] };
  };
  const project = run('on');
  const stock = run('off');
  expect(project.name).toBe('wasm');
  expect(stock.name).toBe('wasm (stock kernels)');
  return { project: project.bits, stock: stock.bits };
}

describe('wasm kernel fixes that keep the stock kernels\' bits', () => {
  it('attention products and their gradients, 2-D products, sums over leading axes and row gathers equal tfjs wasm with the fixes off, bit for bit', () => {
    // (Transposed 2-D products are not in the list: stock runs them in the scalar loop, the
    // fix in XNNPACK's order, as since the first fix.)
    const { project, stock } = runWithAndWithoutFixes(`
      const q = tf.tensor(rnd(2 * 4 * 17 * 16), [2, 4, 17, 16]);
      const k = tf.tensor(rnd(2 * 4 * 17 * 16), [2, 4, 17, 16]);
      const v = tf.tensor(rnd(2 * 4 * 60 * 16), [2, 4, 60, 16]);
      const p = tf.tensor(rnd(2 * 4 * 17 * 60), [2, 4, 17, 60]);
      const dy = tf.tensor(rnd(2 * 4 * 17 * 16), [2, 4, 17, 16]);
      const [dq, dk] = tf.grads((x, y) => tf.matMul(x, y, false, true))([q, k]);
      const [dp, dv] = tf.grads((x, y) => tf.matMul(x, y))([p, v], dy);
      const table = tf.tensor(rnd(50 * 3 * 4), [50, 3, 4]);
      const wide = tf.tensor(rnd(3 * 70 * 37), [3, 70, 37]);
      const sums = [tf.sum(wide, 0), tf.sum(wide, [0, 1]), tf.sum(wide, [0, 1], true), tf.sum(v, [0, 1, 2])];
      const rows = tf.gather(table, tf.tensor2d([[4, 49, 4], [0, 1, 2]], [2, 3], 'int32'));
      // 2-D products (stock: XNNPACK) and a folded one with k <= 48 (stock: the scalar loop, one block).
      const w = tf.tensor(rnd(70 * 37), [70, 37]);
      const plain = [tf.matMul(tf.tensor(rnd(33 * 70), [33, 70]), w), tf.matMul(tf.tensor(rnd(8 * 1088), [8, 1088]), tf.tensor(rnd(1088 * 64), [1088, 64]))];
      const folded = tf.matMul(tf.tensor(rnd(2 * 3 * 5 * 40), [2, 3, 5, 40]), tf.tensor(rnd(40 * 6), [40, 6]));
      const outs = [tf.matMul(q, k, false, true), tf.matMul(p, v), dq, dk, dp, dv, ...sums, rows, ...plain, folded];
    `);
    expect(project).toHaveLength(14);
    expect(project).toEqual(stock);
  });

  it('elementwise add, sub, mul and div with each supported broadcast, GELU with its gradient, axis swaps, and Sum, Mean and LayerNorm gradients equal tfjs wasm with the fixes off, bit for bit', () => {
    const { project, stock } = runWithAndWithoutFixes(`
      const special = (x) => { x[0] = NaN; x[1] = Infinity; x[2] = -Infinity; x[3] = 0; x[4] = -0; x[5] = 1e-40; return x; };
      const a = tf.tensor(special(rnd(3 * 37)), [3, 37]);
      const b = tf.tensor(rnd(3 * 37), [3, 37]);
      const bias = tf.tensor(rnd(37), [37]);
      const perRow = tf.tensor(special(rnd(3)), [3, 1]);
      const scalar = tf.scalar(0.37);
      const heads = tf.tensor(rnd(2 * 4 * 17 * 17), [2, 4, 17, 17]);
      const headRow = tf.tensor(rnd(2 * 4 * 17), [2, 4, 17, 1]);
      const outs = [];
      for (const f of [tf.add, tf.sub, tf.mul, tf.div]) {
        outs.push(f(a, b), f(a, bias), f(bias, a), f(a, perRow), f(perRow, a), f(a, scalar), f(scalar, a), f(heads, headRow));
      }
      const x = tf.tensor(special(rnd(2 * 17 * 61).map((v) => v * 40)), [34, 61]);
      const gdy = tf.tensor(rnd(34 * 61), [34, 61]);
      const { gelu } = await import(${JSON.stringify(join(REPO, 'dist/src/model/layers.js'))});
      outs.push(gelu(x), tf.grad((t) => gelu(t))(x, gdy));
      outs.push(tf.transpose(heads, [0, 2, 1, 3]), tf.transpose(tf.tensor(rnd(2 * 5 * 3 * 7), [2, 5, 3, 7]), [0, 2, 1, 3]));
      const r = tf.tensor(rnd(6 * 5 * 7), [6, 5, 7]);
      outs.push(
        tf.grad((t) => tf.mean(t, -1))(r, tf.tensor(rnd(30), [6, 5])),
        tf.grad((t) => tf.mean(t, [0, 2], true))(r, tf.tensor(rnd(5), [1, 5, 1])),
        tf.grad((t) => tf.sum(t, 1))(r, tf.tensor(rnd(42), [6, 7])),
        tf.grad((t) => tf.sum(t))(r, tf.scalar(0.3)),
      );
      const { layerNorm } = await import(${JSON.stringify(join(REPO, 'dist/src/model/layers.js'))});
      const gamma = tf.tensor(rnd(7), [7]);
      const beta = tf.tensor(rnd(7), [7]);
      outs.push(...tf.grads((t, g, b) => layerNorm(t, g, b, 1e-12))([r, gamma, beta], tf.tensor(rnd(210), [6, 5, 7])));
    `);
    expect(project).toHaveLength(43);
    expect(project).toEqual(stock);
  });
});

describe('the tfjs release the internals are read from', () => {
  it('is the one installed', () => {
    expect(tf.version_core).toBe(TFJS_RELEASE);
    expect(() => assertTfjsRelease('wasm')).not.toThrow();
  });

  it('rejects any other version in one line naming what was found and what is expected', () => {
    const found = { '@tensorflow/tfjs-core': TFJS_RELEASE, '@tensorflow/tfjs-backend-wasm': '4.21.0' };
    expect(() => checkTfjsVersions(found)).toThrow(TfjsReleaseError);
    expect(() => checkTfjsVersions(found)).toThrow(/^tfjs version mismatch: found @tensorflow\/tfjs-backend-wasm 4\.21\.0, expected 4\.22\.0 [^\n]*$/);
    expect(() => checkTfjsVersions({ '@tensorflow/tfjs-core': '4.22.1' })).toThrow(/found @tensorflow\/tfjs-core 4\.22\.1, expected 4\.22\.0/);
  });
});

describe('the Sum and Mean gradients are wasm\'s alone', () => {
  const rng = new Rng('reduce-grads');
  const xData = randomNormal(rng, 6 * 5 * 7);
  const dyData = randomNormal(rng, 6 * 5 * 7);
  /** Gradients of Sum and Mean over leading, inner and all axes, as module code (tf in scope). */
  const grads = `[
    tf.grad((t) => tf.sum(t, 0))(x, tf.tensor(dy.slice(0, 35), [5, 7])),
    tf.grad((t) => tf.sum(t, [0, 2], true))(x, tf.tensor(dy.slice(0, 5), [1, 5, 1])),
    tf.grad((t) => tf.sum(t))(x, tf.scalar(dy[0])),
    tf.grad((t) => tf.mean(t, -1))(x, tf.tensor(dy.slice(0, 30), [6, 5])),
    tf.grad((t) => tf.mean(t, [0, 2], true))(x, tf.tensor(dy.slice(0, 5), [1, 5, 1])),
  ]`;
  const setup = `const x = tf.tensor(${JSON.stringify(Array.from(xData))}, [6, 5, 7]); const dy = ${JSON.stringify(Array.from(dyData))};`;

  /** Calls of `backend`'s OnesLike kernel (the wasm gradients' ones) while the gradients run. */
  async function onesLikeCalls(backend: BackendName): Promise<number> {
    await tf.setBackend(backend);
    const stock = tf.getKernel('OnesLike', backend) as tf.KernelConfig;
    let calls = 0;
    tf.unregisterKernel('OnesLike', backend);
    tf.registerKernel({ ...stock, kernelFunc: (args) => (calls++, stock.kernelFunc(args)) });
    try {
      const x = tf.tensor(xData, [6, 5, 7]);
      tf.dispose([tf.grad((t: tf.Tensor) => tf.sum(t, 0))(x), tf.grad((t: tf.Tensor) => tf.mean(t, -1))(x), x]);
    } finally {
      tf.unregisterKernel('OnesLike', backend);
      tf.registerKernel(stock);
    }
    return calls;
  }

  it('run on wasm, and on cpu tfjs\'s own gradients run instead', async () => {
    expect(await onesLikeCalls('wasm')).toBe(2);
    expect(await onesLikeCalls('cpu')).toBe(0);
  });

  it('leave the cpu backend tfjs\'s stock gradient bits (a process where no wasm gradient was ever registered)', async () => {
    const bits = `(${grads}).map((g) => Buffer.from(Float32Array.from(g.dataSync()).buffer).toString('base64'))`;
    const script = `
      const { initBackend } = await import(${JSON.stringify(join(REPO, 'dist/src/tensor/backend.js'))});
      await initBackend('cpu');
      const tf = await import('@tensorflow/tfjs-core');
      ${setup}
      console.log(JSON.stringify(${bits}));
    `;
    const stock = JSON.parse(execFileSync(process.execPath, ['--input-type=module', '-e', script], { cwd: join(REPO, 'dist') }).toString()) as string[];
    await tf.setBackend('cpu');
    // The same module code, in this process, whose wasm gradients are registered.
    const here = tf.tidy(() => new Function('tf', `${setup} return ${bits};`)(tf) as string[]);
    expect(here).toHaveLength(5);
    expect(here).toEqual(stock);
  });
});
