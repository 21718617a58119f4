/**
 * Faults through the CLI on tiny scenarios: injected task errors and worker crashes are retried
 * without changing any result; dropout and deadline stragglers are seeded (two runs agree) and
 * recorded as planRound says; NaN updates are rejected, or stop the run at its last checkpoint.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { planRound } from '../src/fl/faults.js';
import { decodeSafetensors } from '../src/model/safetensors.js';
import { weightsHash } from '../src/results/run-dir.js';
import type { Scenario } from '../src/scenario/schema.js';
import { outcome, roundMetrics, roundRecords, summaryOf } from './helpers/kit.js';
import { makeTinyFm4, METHOD_YAML, tinyMethodScenario } from './helpers/tiny-fm4.js';
import { cli, makeTinyFm, tempDir, tinyScenario, writeScenario } from './helpers/tiny-run.js';

function json<T>(file: string): T {
  return JSON.parse(readFileSync(file, 'utf8')) as T;
}

/** The run's own plan of every recorded round, recomputed from its scenario.json and partition.json. */
function plans(runDir: string) {
  const scenario = json<Scenario>(join(runDir, 'scenario.json'));
  const { sizes } = json<{ sizes: number[] }>(join(runDir, 'partition.json'));
  const fed = scenario.federation;
  const steps = (c: number) => fed.localEpochs * Math.ceil((sizes[c] as number) / fed.batchSize);
  return roundRecords(runDir).map((r) => ({ record: r, plan: planRound(scenario.seed, r.round, r.clients, scenario.faults, steps) }));
}

function checkpoint(runDir: string) {
  const file = join(runDir, 'checkpoint.safetensors');
  const { tensors, metadata } = decodeSafetensors(readFileSync(file), file);
  return { round: Number(metadata['round']), global: (tensors.get('global') as { data: Float32Array }).data };
}

describe('faults (tiny scenarios through the CLI)', () => {
  let work: string;
  let fm: string;
  let fm4: string;
  const results = () => join(work, 'results');
  const runDir = (name: string, id: string) => join(work, 'results', name, id);
  const run = (file: string, id: string, workers = 2) => cli(['run', file, '--results', results(), '--run-id', id, '--workers', String(workers)]);

  beforeAll(async () => {
    work = tempDir('faults');
    fm = join(work, 'fm');
    fm4 = join(work, 'fm4');
    await Promise.all([makeTinyFm(fm), makeTinyFm4(fm4)]);
  });

  it('retries injected task errors and worker crashes, with results identical to a run without faults', async () => {
    const clean = writeScenario(work, tinyScenario(fm), 'clean.yaml');
    const faulty = writeScenario(work, tinyScenario(fm, 'faults: { taskErrors: 0.3, workerCrashes: 0.3 }\n'), 'inject.yaml');
    const a = await run(clean, 'clean');
    expect(a.code, a.stderr).toBe(0);
    const b = await run(faulty, 'inject');
    expect(b.code, b.stderr).toBe(0);
    expect(b.stderr).toBe('');
    expect(outcome(runDir('tiny', 'inject'))).toEqual(outcome(runDir('tiny', 'clean')));

    // Exactly the injected first attempts failed, each once, and each was retried.
    const expected = plans(runDir('tiny', 'inject')).flatMap(({ record, plan }) =>
      [...plan.inject].filter(([, kind]) => kind !== 'nan').map(([client, kind]) => `${record.round}/${client}/${kind}`),
    );
    const seen = [...b.stdout.matchAll(/^round (\d+): client (\d+) failed \((.*)\); retry 1\/2$/gm)].map((m) => {
      const kind = (m[3] as string).includes('injected task error') ? 'throw' : (m[3] as string).includes('lost its worker thread') ? 'crash' : `?${m[3]}`;
      return `${m[1]}/${m[2]}/${kind}`;
    });
    expect(seen.sort()).toEqual(expected.sort());
    expect(expected.filter((e) => e.endsWith('/throw')).length).toBeGreaterThan(0);
    expect(expected.filter((e) => e.endsWith('/crash')).length).toBeGreaterThan(0);
    expect(b.stdout).not.toMatch(/retry 2\//);
    console.log(`injected: ${expected.length} failed first attempts (${expected.join(', ')}), all retried once`);
  });

  it('a replaced actor is restored to the current frozen model: FedPFT with crashes equals FedPFT without', async () => {
    const scenario = tinyMethodScenario(fm4, METHOD_YAML.fedpft()).replace('rounds: 4', 'rounds: 3');
    const clean = writeScenario(work, scenario, 'fedpft-clean.yaml');
    const faulty = writeScenario(work, `${scenario}faults: { taskErrors: 0.2, workerCrashes: 0.4 }\n`, 'fedpft-inject.yaml');
    const a = await run(clean, 'clean');
    expect(a.code, a.stderr).toBe(0);
    const b = await run(faulty, 'inject');
    expect(b.code, b.stderr).toBe(0);
    // Round 2 is an alignment round: its frozen-model update must reach actors that replace crashed ones.
    expect(roundRecords(runDir('tiny4', 'clean'))[1]?.method?.['aligned']).toBe(true);
    const crashesAfterAlignment = [...b.stdout.matchAll(/^round (\d+): client \d+ failed \(actor slot/gm)].filter((m) => Number(m[1]) > 2);
    expect(crashesAfterAlignment.length).toBeGreaterThan(0);
    expect(outcome(runDir('tiny4', 'inject'))).toEqual(outcome(runDir('tiny4', 'clean')));
  });

  it('dropout and deadline stragglers: seeded, recorded as planRound says, and only the rest aggregated', async () => {
    const file = writeScenario(work, tinyScenario(fm, 'faults: { dropout: 0.3, stragglers: { probability: 0.5, slowdown: 4, deadline: 1.5 } }\n'), 'churn.yaml');
    const one = await run(file, 'churn-w1', 1);
    expect(one.code, one.stderr).toBe(0);
    const two = await run(file, 'churn-w2', 2);
    expect(two.code, two.stderr).toBe(0);
    const [d1, d2] = [runDir('tiny', 'churn-w1'), runDir('tiny', 'churn-w2')];
    expect(outcome(d1)).toEqual(outcome(d2));

    let dropped = 0;
    let late = 0;
    for (const { record, plan } of plans(d1)) {
      const faults = record.faults ?? { dropped: [], late: [], rejected: [] };
      expect(faults, `round ${record.round}`).toEqual({ dropped: plan.dropped, late: plan.late, rejected: [] });
      dropped += plan.dropped.length;
      late += plan.late.length;
      // Every sampled client downloads the model; only the participants upload an update.
      const perClient = record.bytesDown / record.clients.length;
      const aggregated = record.bytesUp / perClient;
      expect(aggregated, `round ${record.round}`).toBe(record.clients.length - plan.dropped.length - plan.late.length);
      expect(aggregated).toBe(plan.participants.length);
      expect(record.meanTrainLoss === null, `round ${record.round}`).toBe(aggregated === 0);
    }
    expect(dropped).toBeGreaterThan(0);
    expect(late).toBeGreaterThan(0);
    // Faults that remove clients do change the result (unlike injected errors).
    const clean = writeScenario(work, tinyScenario(fm), 'clean.yaml');
    if (!existsSync(runDir('tiny', 'clean'))) expect((await run(clean, 'clean')).code).toBe(0);
    expect(summaryOf(d1).finalWeightsSha256).not.toBe(summaryOf(runDir('tiny', 'clean')).finalWeightsSha256);
  });

  describe('NaN updates (seed 12: round 1 has none, round 2 has one from client 11)', () => {
    const nanScenario = (policy: string) => tinyScenario(fm, `faults: { nanUpdates: 0.3, onDivergence: ${policy} }\n`).replace('seed: 7', 'seed: 12');

    it('onDivergence reject: rejected ids recorded, the global model stays finite', async () => {
      const file = writeScenario(work, nanScenario('reject'), 'nan-reject.yaml');
      const r = await run(file, 'nan-reject');
      expect(r.code, r.stderr).toBe(0);
      const dir = runDir('tiny', 'nan-reject');
      let rejected = 0;
      for (const { record, plan } of plans(dir)) {
        const nan = plan.participants.filter((c) => plan.inject.get(c) === 'nan');
        expect(record.faults?.rejected ?? [], `round ${record.round}`).toEqual(nan);
        if (nan.length > 0) expect(r.stdout).toContain(`round ${record.round}: rejected the NaN/Inf update of client ${nan.join(', ')}`);
        rejected += nan.length;
        expect(Number.isFinite(record.meanTrainLoss)).toBe(true);
        if (record.round % 2 === 0) expect(Number.isFinite(record.accuracy), `round ${record.round} accuracy ${record.accuracy}`).toBe(true);
      }
      expect(plans(dir)[0]?.record.faults).toBeUndefined();
      expect(rejected).toBeGreaterThanOrEqual(2);
      const s = summaryOf(dir);
      expect(typeof s.finalAccuracy).toBe('number');
      const { global } = checkpoint(dir);
      expect(global.every((v) => Number.isFinite(v))).toBe(true);
      expect(weightsHash(global)).toBe(s.finalWeightsSha256);
    });

    it('onDivergence stop: exit 1, one line naming client and round, no summary, checkpoint at the last good round', async () => {
      const file = writeScenario(work, nanScenario('stop'), 'nan-stop.yaml');
      const r = await run(file, 'nan-stop');
      expect(r.code, r.stderr).toBe(1);
      const lines = r.stderr.trimEnd().split('\n');
      expect(lines, r.stderr).toHaveLength(1);
      expect(lines[0]).toMatch(/^fedpft: round 2: client 11 .*NaN.*stop.*round 1$/);
      const dir = runDir('tiny', 'nan-stop');
      expect(existsSync(join(dir, 'summary.json'))).toBe(false);
      const ckpt = checkpoint(dir);
      expect(ckpt.round).toBe(1);
      expect(ckpt.global.every((v) => Number.isFinite(v))).toBe(true);
      // Round 1 is what a run that rejects NaN also did in round 1.
      const reject = runDir('tiny', 'nan-reject');
      expect(roundMetrics(dir)).toEqual(roundMetrics(reject).slice(0, 1));
      // Resuming meets the same NaN again: the stop is as deterministic as the run.
      const again = await cli(['run', file, '--results', results(), '--resume', 'nan-stop', '--workers', '1']);
      expect(again.code, again.stderr).toBe(1);
      expect(again.stderr.trimEnd()).toBe(lines[0]);
      expect(checkpoint(dir).round).toBe(1);
      expect(existsSync(join(dir, 'summary.json'))).toBe(false);
    });
  });
});
