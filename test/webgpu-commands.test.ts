/**
 * The paths besides client training on the webgpu backend (Mesa's lavapipe in CI): pretraining
 * is deterministic there (a split, resumed run ends with the straight run's weights), predict
 * gives the cpu backend's logits and hidden states, compress writes the cpu backend's sub-FM,
 * and the server's steps of 100 rounds (FedAvg, FedPFT's realignment, evaluation) leave live
 * tensors and GPU memory flat.
 */
import * as tf from '@tensorflow/tfjs-core';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { fedAvg } from '../src/fl/fedavg.js';
import type { ApozReport } from '../src/client/apoz-probe.js';
import { createMethod } from '../src/methods/registry.js';
import { loadModel } from '../src/model/encoder.js';
import { parseScenario } from '../src/scenario/load.js';
import { loadScenarioTask } from '../src/scenario/task-data.js';
import { initBackend } from '../src/tensor/backend.js';
import { expectClose } from './helpers/numeric.js';
import { makeTinyFm4, METHOD_YAML, tinyMethodScenario } from './helpers/tiny-fm4.js';
import { cli, makeTinyFm, makeTinyTextFm, tempDir } from './helpers/tiny-run.js';
import { Rng } from '../src/util/rng.js';

describe('pretrain, predict and compress on webgpu', () => {
  let work = '';
  let vitFm = '';
  let textFm = '';

  beforeAll(async () => {
    work = tempDir('webgpu-commands');
    vitFm = join(work, 'vit-fm');
    textFm = join(work, 'text-fm');
    await Promise.all([makeTinyFm(vitFm), makeTinyTextFm(textFm)]);
  });

  it('pretrain: a split, resumed run ends with the straight run\'s weights, and learns', async () => {
    const recipe = (out: string) =>
      JSON.stringify({
        name: 'tiny-mnist-webgpu', out, seed: 3, dataset: 'mnist',
        arch: { hiddenSize: 16, numHiddenLayers: 1, numAttentionHeads: 2, intermediateSize: 32, patchSize: 7 },
        epochs: 1, batchSize: 400, learningRate: 0.003, warmupSteps: 4, weightDecay: 0.05, checkpointEvery: 5, backend: 'webgpu',
      });
    writeFileSync(join(work, 'straight.json'), recipe(join(work, 'straight')));
    writeFileSync(join(work, 'split.json'), recipe(join(work, 'split')));
    const straight = await cli(['pretrain', join(work, 'straight.json')]);
    expect(straight.code, straight.stderr).toBe(0);
    const first = await cli(['pretrain', join(work, 'split.json'), '--stop-after', '7']);
    expect(first.stdout).toContain('stopped at step 7/20');
    const second = await cli(['pretrain', join(work, 'split.json')]);
    expect(second.code, second.stderr).toBe(0);
    const sha = (dir: string) => readFileSync(join(work, dir, 'SHA256SUMS'), 'utf8').split(' ')[0];
    expect(sha('split')).toBe(sha('straight'));
    const info = JSON.parse(readFileSync(join(work, 'straight', 'pretrain.json'), 'utf8')) as { validationAccuracy: number; backend: string };
    expect(info.backend).toBe('webgpu');
    expect(info.validationAccuracy).toBeGreaterThan(0.3);
  });

  const predictions = async (args: string[], backend: string, field: 'logits' | 'hidden') => {
    const r = await cli(['predict', ...args, '--backend', backend]);
    expect(r.code, r.stderr).toBe(0);
    return r.stdout.trim().split('\n').flatMap((l) => (JSON.parse(l) as Record<string, number[]>)[field] as number[]);
  };

  it('predict: image logits, text logits and [CLS] hidden states equal the cpu backend\'s', async () => {
    const rng = new Rng('webgpu-predict');
    const images = join(work, 'images.jsonl');
    writeFileSync(images, [0, 1, 2].map(() => JSON.stringify({ image: Array.from({ length: 28 * 28 }, () => rng.next()) })).join('\n'));
    const texts = join(work, 'texts.jsonl');
    writeFileSync(texts, ['a short one', 'a somewhat longer sentence to read'].map((text) => JSON.stringify({ text })).join('\n'));
    const cases: Array<[string[], 'logits' | 'hidden']> = [
      [['--model', vitFm, '--input', images], 'logits'],
      [['--model', textFm, '--input', texts, '--max-length', '16'], 'logits'],
      [['--model', textFm, '--input', texts, '--max-length', '16', '--output', 'cls-hidden'], 'hidden'],
    ];
    for (const [args, field] of cases) {
      const cpu = await predictions(args, 'cpu', field);
      expect(cpu.length).toBeGreaterThan(0);
      expectClose(await predictions(args, 'webgpu', field), cpu, 1e-4, `${args[1]} ${field}`);
    }
  });

  it('compress: the same kept neurons and the same weights file as on cpu', async () => {
    const outs: Record<string, string> = {};
    for (const backend of ['cpu', 'webgpu']) {
      const r = await cli(['compress', '--model', vitFm, '--keep', '0.5', '--out', join(work, `sub-${backend}`), '--backend', backend]);
      expect(r.code, r.stderr).toBe(0);
      outs[backend] = r.stdout;
    }
    expect(outs['webgpu']).toBe(outs['cpu']?.replace('sub-cpu', 'sub-webgpu'));
    expect(readFileSync(join(work, 'sub-webgpu', 'kept-neurons.json'), 'utf8')).toBe(readFileSync(join(work, 'sub-cpu', 'kept-neurons.json'), 'utf8'));
  });
});

describe("the server's steps on webgpu", () => {
  it('100 rounds of FedAvg, evaluating every 5 and realigning FedPFT every 10: live tensors and GPU bytes stay flat', async () => {
    await initBackend('webgpu');
    const work = tempDir('webgpu-server');
    const fmDir = join(work, 'fm4');
    await makeTinyFm4(fmDir);
    const yaml = tinyMethodScenario(fmDir, METHOD_YAML.fedpft().replace('interval: 2', 'interval: 10')).replace('evalLimit: 100', 'evalLimit: 32');
    const scenario = parseScenario(yaml, 'server.yaml');
    const data = loadScenarioTask(scenario);
    const method = createMethod(scenario.method);
    const fm = loadModel(scenario.model.dir);
    const setup = await method.setup({ scenario, fm, data, log: () => {} });
    for (const t of fm.params.values()) t.dispose();
    const widths = setup.clientModel.config.intermediateSizes ?? [];
    const memory: Array<{ numTensors: number; numBytesInGPU: number }> = [];
    let realigned = 0;
    try {
      let global = setup.initial;
      for (let round = 1; round <= 100; round++) {
        const request = (await method.beforeRound?.(round)) ?? {};
        // Three clients' updates around the global vector, and APoZ counts with no ties when asked.
        const updates = [0, 1, 2].map((c) => ({ clientId: c, numExamples: 10 + c, weights: global.map((w, i) => w + 1e-3 * Math.sin(round + 7 * c + i)) }));
        global = fedAvg(updates, 'weighted');
        const layers = request.probe ? (request.probe.payload as { layers: number[] }).layers : [];
        const reports: ApozReport[] = layers.length === 0 ? [] : [0, 1, 2].map((c) => ({ layers, positions: 50, zeros: layers.map((l) => Int32Array.from({ length: widths[l] as number }, (_, i) => ((7 * i + 3 * l) % (widths[l] as number)) + c)) }));
        const hook = await method.afterAggregate?.({ round, global, clients: [0, 1, 2], reports });
        if (hook?.frozenUpdate?.length) realigned++;
        if (round % 5 !== 0) continue;
        await method.evaluate(global);
        const m = tf.memory() as unknown as { numTensors: number; numBytesInGPU: number };
        memory.push({ numTensors: m.numTensors, numBytesInGPU: m.numBytesInGPU });
      }
    } finally {
      method.dispose();
    }
    expect(realigned).toBe(10);
    // After warm-up (round 20), every evaluated round ends with the same live tensors and GPU bytes.
    expect(memory).toHaveLength(20);
    for (const m of memory.slice(4)) expect(m).toEqual(memory[3]);
  }, 300_000);
});
