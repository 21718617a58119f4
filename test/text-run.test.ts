import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { roundMetrics, summaryOf } from './helpers/kit.js';
import { cli, makeTinyFm, makeTinyTextFm, tempDir, tinyScenario, tinyTextScenario, writeScenario } from './helpers/tiny-run.js';

const FEDPFT = `name: fedpft
  lora: { rank: 4, alpha: 8, dropout: 0.1 }
  keep: 0.5
  interval: 1
  proportion: 0.5
  distill: { dataset: moby-dick, examples: 48, steps: 3, batchSize: 8 }
  align: { steps: 2, batchSize: 8, apozEps: 0.05, probeExamples: 16 }`;

const FEDOT = `name: fedot
  lora: { rank: 4, alpha: 8, dropout: 0.1 }
  adapterLayers: 1
  emulatorLayers: 1
  distill: { dataset: sotu, examples: 48, steps: 3, batchSize: 8 }`;

describe('federated runs on a text task (tiny BERT FM on spam)', () => {
  let work = '';
  let fm = '';
  beforeAll(async () => {
    work = tempDir('text-run');
    fm = join(work, 'fm');
    await makeTinyTextFm(fm);
  });

  for (const [label, method] of [
    ['fedpetuning', undefined],
    ['fedpft', FEDPFT],
    ['fedot', FEDOT],
  ] as const) {
    it(`${label}: runs, evaluates every round, and records token-level costs`, async () => {
      const file = writeScenario(work, tinyTextScenario(fm, method), `${label}.yaml`);
      const r = await cli(['run', file, '--results', join(work, 'results', label), '--run-id', 'a']);
      expect(r.code, r.stderr).toBe(0);
      const dir = join(work, 'results', label, 'tiny-text', 'a');
      const summary = summaryOf(dir);
      expect(summary.finalAccuracy).toBeGreaterThan(0);
      expect(roundMetrics(dir)).toHaveLength(3);
      // 24 tokens per example: the FM's MACs follow the padded length (hand count: 4 layers of
      // d = 16, d_ff = 32, LoRA rank 4 on four projections, then pooler and a 2-way classifier).
      const T = 24;
      const d = 16;
      const perLayer = T * 4 * d * d + 2 * T * T * d + 2 * T * d * 32 + 4 * T * 2 * d * 4;
      if (label === 'fedpetuning') expect(summary.methodInfo['fmForwardMacsPerExample']).toBe(4 * perLayer + d * d + d * 2);
      expect(summary.methodInfo['clientForwardMacsPerExample']).toBeGreaterThan(0);
      if (label === 'fedpft') expect(JSON.stringify(roundMetrics(dir))).toContain('"aligned":true');
      // Tensor counts (server and the largest actor) stay flat from round 2 on, realignments included.
      const tensors = roundMetrics(dir).map((r) => r.tensors);
      expect(tensors[2]).toEqual(tensors[1]);
    });
  }

  it('fedpft on text: 1 and 2 workers give identical rounds', async () => {
    const one = writeScenario(work, tinyTextScenario(fm, FEDPFT, '  workers: 1'), 'w1.yaml');
    const two = writeScenario(work, tinyTextScenario(fm, FEDPFT, '  workers: 2'), 'w2.yaml');
    const a = await cli(['run', one, '--results', join(work, 'det'), '--run-id', 'w1']);
    const b = await cli(['run', two, '--results', join(work, 'det'), '--run-id', 'w2']);
    expect(a.code, a.stderr).toBe(0);
    expect(b.code, b.stderr).toBe(0);
    expect(roundMetrics(join(work, 'det', 'tiny-text', 'w2'))).toEqual(roundMetrics(join(work, 'det', 'tiny-text', 'w1')));
  });

  it('an FM that cannot read the task, or a length beyond its positions, is one line and exit 2', async () => {
    const vit = join(work, 'vit');
    await makeTinyFm(vit);
    const cases: Array<[string, RegExp]> = [
      [tinyTextScenario(vit), /vit FM cannot read spam/],
      [tinyScenario(fm), /bert FM cannot read mnist/],
      [tinyTextScenario(fm).replace('maxLength: 24', 'maxLength: 40'), /task\.maxLength 40 exceeds the FM's 32 positions/],
    ];
    for (const [i, [text, message]] of cases.entries()) {
      const r = await cli(['run', writeScenario(work, text, `bad${i}.yaml`), '--results', join(work, 'bad')]);
      expect(r.code, r.stderr).toBe(2);
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
      expect(r.stderr).toMatch(message);
    }
  });
});
