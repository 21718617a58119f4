import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { TINY_ENCODER } from './helpers/kit.js';
import { cli, tempDir } from './helpers/tiny-run.js';

function recipe(out: string): string {
  return JSON.stringify({
    name: 'tiny-mnist',
    out,
    seed: 3,
    dataset: 'mnist',
    arch: { ...TINY_ENCODER, numHiddenLayers: 1, patchSize: 7 },
    epochs: 1,
    batchSize: 400,
    learningRate: 0.003,
    warmupSteps: 4,
    weightDecay: 0.05,
    checkpointEvery: 5,
    backend: 'wasm',
  });
}

describe('fedpft pretrain', () => {
  it('is deterministic and a split, resumed run ends with the same weights as a straight one', async () => {
    const work = tempDir('pretrain');
    writeFileSync(join(work, 'straight.json'), recipe(join(work, 'straight')));
    writeFileSync(join(work, 'split.json'), recipe(join(work, 'split')));
    const straight = await cli(['pretrain', join(work, 'straight.json')]);
    expect(straight.code).toBe(0);
    const first = await cli(['pretrain', join(work, 'split.json'), '--stop-after', '7']);
    expect(first.stdout).toContain('stopped at step 7/20');
    const second = await cli(['pretrain', join(work, 'split.json')]);
    expect(second.stdout).toContain('resuming tiny-mnist at step 7/20');
    const sha = (dir: string) => readFileSync(join(work, dir, 'SHA256SUMS'), 'utf8').split(' ')[0];
    expect(sha('split')).toBe(sha('straight'));
    const info = JSON.parse(readFileSync(join(work, 'straight', 'pretrain.json'), 'utf8')) as { validationAccuracy: number; steps: number };
    expect(info.steps).toBe(20);
    // 20 steps on 8,000 digits already beat chance (10%) by far.
    expect(info.validationAccuracy).toBeGreaterThan(0.3);
    const log = readFileSync(join(work, 'straight', 'train-log.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { loss: number });
    expect(log.length).toBeGreaterThan(0);
  });

  it('rejects a bad recipe with one line and exit code 2', async () => {
    const work = tempDir('pretrain-bad');
    const file = join(work, 'bad.json');
    writeFileSync(file, JSON.stringify({ ...JSON.parse(recipe(join(work, 'x'))), epochs: 0 }));
    const r = await cli(['pretrain', file]);
    expect(r.code).toBe(2);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toContain('epochs');
  });
});
