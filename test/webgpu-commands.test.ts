/**
 * The commands besides `run` on the webgpu backend (Mesa's lavapipe in CI): pretraining is
 * deterministic there (a split, resumed run ends with the straight run's weights), predict gives
 * the cpu backend's logits and hidden states, and compress writes the cpu backend's sub-FM.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { expectClose } from './helpers/numeric.js';
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
