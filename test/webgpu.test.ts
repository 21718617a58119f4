/**
 * The webgpu backend on whatever Vulkan adapter Dawn finds (in CI: Mesa's lavapipe on the CPU).
 * Kernels are checked against the cpu backend; runs are bit-identical with 1 and 2 workers and
 * after a resume, and their tensor counts stay flat; device slots bound how many tasks compute on
 * the GPU at once. Fails (never skips) without an adapter.
 */
import * as tf from '@tensorflow/tfjs-core';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { ActorPool } from '../actors/pool.js';
import { DeviceScheduler } from '../actors/device-scheduler.js';
import type { ClientActor, ClientActorInit } from '../actors/client-actor.js';
import { CLIENT_ACTOR } from '../actors/open-host.js';
import { ClientModel } from '../src/client/client-model.js';
import { localTrain, type SharedImages } from '../src/client/local-train.js';
import type { ClientModelSpec } from '../src/methods/method.js';
import { initBackend } from '../src/tensor/backend.js';
import { clientFixture, DEFAULT_TRAINING } from './helpers/client-fixture.js';
import { NO_ADAPTER } from '../src/tensor/webgpu.js';
import { outcome, roundMetrics } from './helpers/kit.js';
import { cli, makeTinyFm, tempDir, tinyScenario, writeScenario } from './helpers/tiny-run.js';

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

describe('device slots on webgpu: pooled thread actors, each with its own device', () => {
  let spec: ClientModelSpec;
  let initial: Float32Array;
  let init: ClientActorInit;
  let data: SharedImages;

  beforeAll(async () => {
    await initBackend('webgpu');
    ({ spec, initial, data } = await clientFixture());
    init = { backend: 'webgpu', kernels: 'exact', data: { kind: 'shared', data } };
  });

  /** Runs 6 tasks on 2 actors with `slots` GPU slots; returns the most leases ever held at once and the updates. */
  async function withSlots(slots: number): Promise<{ peak: number; weights: Float32Array[] }> {
    const scheduler = new DeviceScheduler({ gpu: slots });
    const acquire = scheduler.acquire.bind(scheduler);
    let held = 0;
    let peak = 0;
    scheduler.acquire = async (kind: string) => {
      const lease = await acquire(kind);
      peak = Math.max(peak, ++held);
      return { ...lease, release: () => (held--, lease.release()) };
    };
    const pool = await ActorPool.open<ClientActor>({ workers: 2, workerFile: CLIENT_ACTOR, workerData: init, deviceKind: 'gpu', scheduler });
    try {
      await pool.broadcast((actor) => actor.loadModel(spec));
      const results = await Promise.all(
        Array.from({ length: 6 }, (_, c) =>
          pool.run((actor) =>
            actor.train({ round: 1, clientId: c, seed: 5, lr: 0.01, weightDecay: 0.01, epochs: 1, batchSize: 8, maxGradNorm: 1, method: DEFAULT_TRAINING, weights: initial.slice(), indices: Int32Array.from({ length: 16 }, (_, i) => (i + 8 * c) % 48) }),
          ),
        ),
      );
      expect((await pool.broadcast(async (actor) => (await actor.backend()).name))).toEqual(['webgpu', 'webgpu']);
      return { peak, weights: results.sort((a, b) => a.clientId - b.clientId).map((r) => r.weights) };
    } finally {
      await pool.close();
    }
  }

  it('100 client rounds on one resident model: live tensors and GPU bytes stay flat', async () => {
    const model = new ClientModel(spec);
    const memory: Array<{ numTensors: number; numBytesInGPU: number; numBytesAllocatedInGPU: number }> = [];
    try {
      for (let round = 1; round <= 100; round++) {
        const result = await localTrain(model, data, {
          round, clientId: round % 6, seed: 5, lr: 0.01, weightDecay: 0.01, epochs: 1, batchSize: 8, maxGradNorm: 1, method: DEFAULT_TRAINING, weights: initial.slice(), indices: Int32Array.from({ length: 8 }, (_, i) => (i + 8 * round) % 48),
        });
        expect(result.weights.every(Number.isFinite)).toBe(true);
        memory.push(tf.memory() as unknown as (typeof memory)[number]);
      }
    } finally {
      model.dispose();
    }
    const later = memory.slice(1);
    expect(new Set(later.map((m) => m.numTensors)).size).toBe(1);
    expect(new Set(later.map((m) => m.numBytesInGPU)).size).toBe(1);
    // The buffer pool may keep freed buffers for reuse, but it must stop growing after warm-up.
    const warm = Math.max(...memory.slice(0, 20).map((m) => m.numBytesAllocatedInGPU));
    expect(Math.max(...memory.slice(20).map((m) => m.numBytesAllocatedInGPU))).toBeLessThanOrEqual(warm);
  });

  it('with gpu slots 1 two actors never compute at once; with 2 they do; the updates are the same', async () => {
    const one = await withSlots(1);
    const two = await withSlots(2);
    expect(one.peak).toBe(1);
    expect(two.peak).toBe(2);
    expect(two.weights).toEqual(one.weights);
  });
});

describe('runs on webgpu (tiny FedPETuning scenario through the CLI)', () => {
  let work: string;
  let file: string;
  const runDir = (id: string) => join(work, 'results', 'tiny', id);
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
    expect(outcome(runDir('w2'))).toEqual(outcome(runDir('w1')));
    const stopped = await run('r', ['--run-id', 'r', '--workers', '2', '--stop-after-round', '3']);
    expect(stopped.code, stopped.stderr).toBe(0);
    const resumed = await run('r', ['--resume', 'r', '--workers', '1']);
    expect(resumed.code, resumed.stderr).toBe(0);
    expect(outcome(runDir('r'))).toEqual(outcome(runDir('w1')));
    const tensors = roundMetrics(runDir('w2')).map((r) => JSON.stringify(r.tensors));
    expect(new Set(tensors).size).toBe(1);
  });
});
