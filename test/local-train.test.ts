import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { ClientModel } from '../src/client/client-model.js';
import { localTrain, type SharedImages, type TrainTask } from '../src/client/local-train.js';
import type { ClientModelSpec } from '../src/methods/method.js';
import { clipByGlobalNorm, evaluate } from '../src/model/train.js';
import { initBackend } from '../src/tensor/backend.js';
import { CLIENT_CFG, clientFixture, DEFAULT_TRAINING } from './helpers/client-fixture.js';

describe('a client task on a resident client model', () => {
  let spec: ClientModelSpec;
  let initial: Float32Array;
  let data: SharedImages;
  const cfg = CLIENT_CFG;

  beforeAll(async () => {
    await initBackend('wasm', 'exact');
    ({ spec, initial, data } = await clientFixture());
  });

  const task = (clientId: number, epochs = 1): TrainTask => ({
    round: 1, clientId, seed: 5, lr: 0.01, weightDecay: 0.01, epochs, batchSize: 8, maxGradNorm: 1, method: DEFAULT_TRAINING, weights: initial.slice(), indices: Int32Array.from({ length: 24 }, (_, i) => i + (clientId % 2) * 24),
  });

  it('only trains the LoRA and head tensors', () => {
    expect(spec.trainable.every((n) => n.includes('lora_') || n.startsWith('classifier.'))).toBe(true);
    expect(spec.trainable.filter((n) => n.includes('lora_A')).length).toBe(cfg.numHiddenLayers * 4);
  });

  it('is a pure function of the task: same task, same weights; another client, other weights', async () => {
    const model = new ClientModel(spec);
    const a = await localTrain(model, data, task(3));
    const b = await localTrain(model, data, task(3));
    const c = await localTrain(model, data, task(5));
    expect(Buffer.from(a.weights.buffer).equals(Buffer.from(b.weights.buffer))).toBe(true);
    expect(a.meanLoss).toBe(b.meanLoss);
    expect(Buffer.from(a.weights.buffer).equals(Buffer.from(c.weights.buffer))).toBe(false);
    expect(a.steps).toBe(3);
    expect(a.numExamples).toBe(24);
    model.dispose();
  });

  it('keeps the tensor count flat over many tasks', async () => {
    const model = new ClientModel(spec);
    await localTrain(model, data, task(1));
    const after1 = tf.memory().numTensors;
    for (let i = 0; i < 8; i++) await localTrain(model, data, task(i));
    expect(tf.memory().numTensors).toBe(after1);
    model.dispose();
  });

  it('lowers the loss on its own data', async () => {
    const model = new ClientModel(spec);
    const all = { features: data.features, labels: data.labels };
    model.setTrainable(initial);
    const before = await evaluate((x) => model.forward(x), all.features, all.labels, 64);
    const trained = await localTrain(model, data, { ...task(0, 15), indices: Int32Array.from({ length: 48 }, (_, i) => i) });
    model.setTrainable(trained.weights);
    const after = await evaluate((x) => model.forward(x), all.features, all.labels, 64);
    expect(after.loss).toBeLessThan(before.loss * 0.7);
    expect(after.accuracy).toBeGreaterThan(before.accuracy);
    model.dispose();
  });
});

describe('clipByGlobalNorm (PyTorch clip_grad_norm_)', () => {
  beforeAll(async () => {
    await initBackend('wasm', 'exact');
  });

  it('scales every gradient by maxNorm / (N + 1e-6) when the global norm N exceeds maxNorm (hand computation)', () => {
    tf.tidy(() => {
      // N = sqrt(3^2 + 4^2 + 12^2) = 13.
      const grads = { a: tf.tensor1d([3, 4]), b: tf.tensor2d([[12]]) };
      const clipped = clipByGlobalNorm(grads, 1);
      const [a0, a1] = Array.from(clipped['a']?.dataSync() ?? []);
      expect(a0).toBeCloseTo(3 / 13, 6);
      expect(a1).toBeCloseTo(4 / 13, 6);
      expect(clipped['b']?.dataSync()[0]).toBeCloseTo(12 / 13, 6);
      expect(clipped['b']?.shape).toEqual([1, 1]);
    });
  });

  it('leaves gradients under the norm bit-identical, and maxNorm 0 switches it off', () => {
    tf.tidy(() => {
      const g = { a: tf.tensor1d([0.1, -0.2, 0.30000001]) };
      expect(Array.from(clipByGlobalNorm(g, 1)['a']?.dataSync() ?? [])).toEqual(Array.from(g.a.dataSync()));
      expect(clipByGlobalNorm(g, 0)).toBe(g);
    });
  });
});
