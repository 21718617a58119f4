/**
 * Resuming compares what a run read, not where it read it from: a run whose FM moved (a checkout
 * moved or cloned elsewhere) resumes, in `run --resume` and in a grid, and ends with the golden
 * bits; an FM changed in place is refused in one line; runs recorded before environment.json had
 * `inputs` still compare their paths.
 */
import { cpSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { golden, outcome } from './helpers/kit.js';
import { cli, makeTinyFm, tempDir, tinyScenario, writeScenario } from './helpers/tiny-run.js';

describe('resuming a run whose files moved', () => {
  let work: string;
  const results = () => join(work, 'results');
  const runDir = (id: string) => join(results(), 'tiny', id);

  beforeAll(async () => {
    work = tempDir('moved');
    await makeTinyFm(join(work, 'fm'));
  });

  /** A run stopped after round 2 with the FM at `from`, whose FM then moved to `to`. */
  async function stoppedThenMoved(id: string, from: string, to: string): Promise<string> {
    cpSync(join(work, 'fm'), join(work, from), { recursive: true });
    const before = writeScenario(work, tinyScenario(join(work, from)), `${id}-before.yaml`);
    expect((await cli(['run', before, '--results', results(), '--run-id', id, '--stop-after-round', '2'])).code).toBe(0);
    const env = JSON.parse(readFileSync(join(runDir(id), 'environment.json'), 'utf8')) as { inputs: Record<string, string> };
    expect(Object.keys(env.inputs)).toEqual(['model.dir']);
    expect(env.inputs['model.dir']).toMatch(/^[0-9a-f]{64}$/);
    renameSync(join(work, from), join(work, to));
    return writeScenario(work, tinyScenario(join(work, to)), `${id}-after.yaml`);
  }

  it('run --resume: the same FM at another path resumes and ends with the golden bits', async () => {
    const after = await stoppedThenMoved('r', 'fm-a', 'fm-b');
    const r = await cli(['run', after, '--results', results(), '--resume', 'r']);
    expect(r.code, r.stderr).toBe(0);
    expect(outcome(runDir('r'))).toEqual(golden());
  });

  it('run --resume: an FM changed in place (same path) is refused in one line, exit 2', async () => {
    cpSync(join(work, 'fm'), join(work, 'fm-c'), { recursive: true });
    const file = writeScenario(work, tinyScenario(join(work, 'fm-c')), 'changed.yaml');
    expect((await cli(['run', file, '--results', results(), '--run-id', 'changed', '--stop-after-round', '2'])).code).toBe(0);
    const weights = join(work, 'fm-c', 'model.safetensors');
    const bytes = readFileSync(weights);
    bytes[bytes.length - 1] ^= 1;
    writeFileSync(weights, bytes);
    const r = await cli(['run', file, '--results', results(), '--resume', 'changed']);
    expect(r.code).toBe(2);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(/scenario\.json: the scenario or a file it names changed since this run started/);
  });

  it('a grid resumes its runs from a moved FM and refuses a changed scenario', async () => {
    cpSync(join(work, 'fm'), join(work, 'fm-g'), { recursive: true });
    const before = writeScenario(work, tinyScenario(join(work, 'fm-g')), 'grid-before.yaml');
    const grid = ['sweep', '--set', 'federation.learningRate=0.01,0.02', '--name', 'g', '--results', results(), '--no-report'];
    expect((await cli([...grid.slice(0, 1), before, ...grid.slice(1), '--stop-after-runs', '1'])).code).toBe(0);
    renameSync(join(work, 'fm-g'), join(work, 'fm-h'));
    const after = writeScenario(work, tinyScenario(join(work, 'fm-h')), 'grid-after.yaml');
    const r = await cli([grid[0] as string, after, ...grid.slice(1)]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/finished earlier, skipped/);
    const other = writeScenario(work, tinyScenario(join(work, 'fm-h')).replace('clientsPerRound: 4', 'clientsPerRound: 3'), 'grid-other.yaml');
    const refused = await cli([grid[0] as string, other, ...grid.slice(1)]);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toMatch(/this run has another scenario than the grid point of its name/);
  });

  it('a run recorded without inputs (before they were recorded) compares paths: the same path resumes', async () => {
    cpSync(join(work, 'fm'), join(work, 'fm-old'), { recursive: true });
    const file = writeScenario(work, tinyScenario(join(work, 'fm-old')), 'old.yaml');
    expect((await cli(['run', file, '--results', results(), '--run-id', 'old', '--stop-after-round', '2'])).code).toBe(0);
    const envFile = join(runDir('old'), 'environment.json');
    const env = JSON.parse(readFileSync(envFile, 'utf8')) as Record<string, unknown>;
    delete env['inputs'];
    writeFileSync(envFile, JSON.stringify(env));
    const r = await cli(['run', file, '--results', results(), '--resume', 'old']);
    expect(r.code, r.stderr).toBe(0);
    expect(outcome(runDir('old'))).toEqual(golden());
  });
});
