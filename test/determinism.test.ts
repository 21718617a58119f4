import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { golden, GOLDEN_FILE, outcome, roundMetrics } from './helpers/kit.js';
import { cli, makeTinyFm, tempDir, tinyScenario, writeScenario } from './helpers/tiny-run.js';

describe('determinism contract (tiny FedPETuning scenario through the CLI)', () => {
  let work: string;
  let scenario: string;

  beforeAll(async () => {
    work = tempDir('determinism');
    await makeTinyFm(join(work, 'fm'));
    scenario = writeScenario(work, tinyScenario(join(work, 'fm')));
  });

  const runDir = (id: string) => join(work, 'results', 'tiny', id);

  it('gives bit-identical metrics and final weights with 1 and with 2 workers', async () => {
    const one = await cli(['run', scenario, '--results', join(work, 'results'), '--run-id', 'w1', '--workers', '1']);
    expect(one.stderr).toBe('');
    expect(one.code).toBe(0);
    const two = await cli(['run', scenario, '--results', join(work, 'results'), '--run-id', 'w2', '--workers', '2']);
    expect(two.code).toBe(0);
    expect(outcome(runDir('w1'))).toEqual(outcome(runDir('w2')));
    expect(one.stdout).toContain('final accuracy');
    const tensors = roundMetrics(runDir('w2')).map((r) => r.tensors);
    expect(new Set(tensors.map((t) => JSON.stringify(t))).size).toBe(1);
  });

  it('ends a stopped-and-resumed run bit-identical to an uninterrupted one', async () => {
    const results = join(work, 'results');
    const first = await cli(['run', scenario, '--results', results, '--run-id', 'resumed', '--workers', '2', '--stop-after-round', '2']);
    expect(first.code).toBe(0);
    expect(existsSync(join(runDir('resumed'), 'summary.json'))).toBe(false);
    // A crash after the checkpoint but before the next round's line: a stray partial line must be cut.
    writeFileSync(join(runDir('resumed'), 'rounds.jsonl'), readFileSync(join(runDir('resumed'), 'rounds.jsonl'), 'utf8') + '{"round": 3, "lr"');
    const second = await cli(['run', scenario, '--results', results, '--resume', '--workers', '1']);
    expect(second.code).toBe(0);
    expect(second.stdout).toContain('resuming');
    expect(outcome(runDir('resumed'))).toEqual(outcome(runDir('w2')));
  });

  it('matches the golden metrics pinned in test/golden', () => {
    const actual = outcome(runDir('w2'));
    if (process.env['UPDATE_GOLDEN'] === '1' || !existsSync(GOLDEN_FILE)) {
      writeFileSync(GOLDEN_FILE, JSON.stringify(actual, null, 2) + '\n');
      if (process.env['UPDATE_GOLDEN'] !== '1') throw new Error(`wrote missing golden file ${GOLDEN_FILE}; commit it`);
    }
    expect(actual).toEqual(golden());
  });
});
