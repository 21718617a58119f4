/**
 * The webgpu backend on whatever Vulkan adapter Dawn finds (in CI: Mesa's lavapipe on the CPU).
 * Kernels are checked against the cpu backend; runs are bit-identical with 1 and 2 workers and
 * after a resume, and their tensor counts stay flat. Fails (never skips) without an adapter.
 */
import * as tf from '@tensorflow/tfjs-core';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../src/tensor/backend.js';
import { NO_ADAPTER } from '../src/tensor/webgpu.js';
import { cli, makeTinyFm, roundMetrics, tempDir, tinyScenario, writeScenario } from './helpers/tiny-run.js';

/** Runs fn on the cpu backend and on webgpu with the same inputs; returns both results' values. */
async function onBoth(fn: () => tf.Tensor): Promise<{ cpu: Float32Array; gpu: Float32Array }> {
  await tf.setBackend('cpu');
  const cpu = new Float32Array(fn().dataSync());
  await tf.setBackend('webgpu');
  const t = fn();
  const gpu = new Float32Array((await t.data()) as Float32Array);
  t.dispose();
  return { cpu, gpu };
}

function maxAbsDiff(a: Float32Array, b: Float32Array): number {
  expect(a.length).toBe(b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs((a[i] as number) - (b[i] as number)));
  return m;
}

describe('webgpu kernels against the cpu backend', () => {
  beforeAll(async () => {
    const info = await initBackend('webgpu').catch((err: Error) => {
      throw new Error(`${err.message}\n${NO_ADAPTER}`);
    });
    expect(info.name).toBe('webgpu');
    expect(info.adapter?.description).toBeTruthy();
  });

  // Shapes where tfjs-webgpu would pick its split-K program (a long inner dimension, few outputs).
  it.each([
    [64, 128, 96],
    [8, 4096, 8],
    [16, 2048, 32],
  ])('matMul %ix%ix%i: matches cpu, and gives the same bits every time', async (m, k, n) => {
    const a = () => tf.randomUniform([m, k], -1, 1, 'float32', 3);
    const b = () => tf.randomUniform([k, n], -1, 1, 'float32', 4);
    const { cpu, gpu } = await onBoth(() => tf.matMul(a(), b()));
    expect(maxAbsDiff(cpu, gpu)).toBeLessThan(1e-3 * Math.sqrt(k));
    const again = await onBoth(() => tf.matMul(a(), b()));
    expect(again.gpu).toEqual(gpu);
  });

  it("UnsortedSegmentSum (gather's gradient) sums in index order: a hand loop's bits, every time; close to cpu", async () => {
    const ids = [3, 1, 3, 0, 7, 3, 1, 1, 5, 3, 3, 2, 7, 0, 3, 3];
    const cols = 15;
    const x = () => tf.randomUniform([ids.length, 5, 3], -1, 1, 'float32', 7);
    const direct = await onBoth(() => tf.unsortedSegmentSum(x(), tf.tensor1d(ids, 'int32'), 9));
    await tf.setBackend('cpu');
    const values = x().dataSync();
    const hand = new Float32Array(9 * cols);
    ids.forEach((id, i) => {
      for (let j = 0; j < cols; j++) hand[id * cols + j] = Math.fround((hand[id * cols + j] as number) + (values[i * cols + j] as number));
    });
    expect(direct.gpu).toEqual(hand);
    expect(maxAbsDiff(direct.cpu, direct.gpu)).toBeLessThan(1e-5);

    const grad = () =>
      tf.grad((table: tf.Tensor) => tf.sum(tf.mul(tf.gather(table, tf.tensor1d(ids, 'int32')), tf.randomUniform([ids.length, 24], -1, 1, 'float32', 5))))(
        tf.randomUniform([9, 24], -1, 1, 'float32', 6),
      );
    const first = await onBoth(grad);
    expect(maxAbsDiff(first.cpu, first.gpu)).toBeLessThan(1e-5);
    expect((await onBoth(grad)).gpu).toEqual(first.gpu);
  });
});

describe('runs on webgpu (tiny FedPETuning scenario through the CLI)', () => {
  let work: string;
  let file: string;
  const runDir = (id: string) => join(work, 'results', 'tiny', id);
  const hash = (id: string) => (JSON.parse(readFileSync(join(runDir(id), 'summary.json'), 'utf8')) as Record<string, unknown>)['finalWeightsSha256'];
  const run = (id: string, extra: string[]) => cli(['run', file, '--results', join(work, 'results'), '--backend', 'webgpu', ...extra]).then((r) => ({ ...r, id }));

  beforeAll(async () => {
    work = tempDir('webgpu');
    await makeTinyFm(join(work, 'fm'));
    file = writeScenario(work, tinyScenario(join(work, 'fm')).replace('rounds: 4', 'rounds: 6'));
  });

  it('1 and 2 workers, and a stopped-and-resumed run, give the same bits; tensor counts stay flat', async () => {
    const one = await run('w1', ['--run-id', 'w1', '--workers', '1']);
    expect(one.code, one.stderr).toBe(0);
    expect(JSON.parse(readFileSync(join(runDir('w1'), 'environment.json'), 'utf8'))['backend']).toBe('webgpu');
    const two = await run('w2', ['--run-id', 'w2', '--workers', '2']);
    expect(two.code, two.stderr).toBe(0);
    expect(roundMetrics(runDir('w2'))).toEqual(roundMetrics(runDir('w1')));
    expect(hash('w2')).toBe(hash('w1'));
    const stopped = await run('r', ['--run-id', 'r', '--workers', '2', '--stop-after-round', '3']);
    expect(stopped.code, stopped.stderr).toBe(0);
    const resumed = await run('r', ['--resume', 'r', '--workers', '1']);
    expect(resumed.code, resumed.stderr).toBe(0);
    expect(roundMetrics(runDir('r'))).toEqual(roundMetrics(runDir('w1')));
    expect(hash('r')).toBe(hash('w1'));
    const tensors = roundMetrics(runDir('w2')).map((r) => JSON.stringify((r as { tensors: unknown }).tensors));
    expect(new Set(tensors).size).toBe(1);
  });
});
