/**
 * `fedpft ablate` and `fedpft sweep` on tiny scenarios: the runs a grid makes on its shared
 * worker pool are bit-identical to running each scenario alone with `fedpft run`; a grid stopped
 * (cleanly with --stop-after-runs, or by SIGKILL in the middle of a run) skips its finished runs
 * when started again and resumes the interrupted one; bad --set values are one-line errors.
 */
import { spawn } from 'node:child_process';
import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { parseSetOption } from '../src/experiments/grid.js';
import { outcome } from './helpers/kit.js';
import { indented, makeTinyFm4, METHOD_YAML } from './helpers/tiny-fm4.js';
import { CLI, cli, REPO, tempDir, writeScenario } from './helpers/tiny-run.js';

/** The base scenario: FedPFT (so ablate can switch to its variants) on a 4-layer tiny FM. */
function scenarioYaml(fmDir: string, method: string, seed = 11): string {
  return `name: tiny4
seed: ${seed}
model:
  dir: ${fmDir}
task:
  dataset: mnist
  trainLimit: 240
  evalLimit: 100
partition:
  family: dirichlet
  alpha: 0.5
federation:
  clients: 6
  clientsPerRound: 3
  rounds: 2
  batchSize: 16
  learningRate: 0.01
method:
${indented(method)}
runtime:
  backend: wasm
  kernels: exact
  workers: 2
`;
}

const json = (file: string) => JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>;

function mtimes(runDir: string): Record<string, number> {
  return Object.fromEntries(readdirSync(runDir).map((f) => [f, statSync(join(runDir, f)).mtimeMs]));
}

let dir: string;
let fm: string;
let base: string;
let petuning: string;

beforeAll(async () => {
  dir = tempDir('experiments');
  fm = join(dir, 'fm');
  await makeTinyFm4(fm);
  base = writeScenario(dir, scenarioYaml(fm, METHOD_YAML.fedpft()));
  petuning = writeScenario(dir, scenarioYaml(fm, METHOD_YAML.fedpetuning), 'petuning.yaml');
});

describe('fedpft ablate', () => {
  it('runs each method x seed on one pool, bit-identical to running the scenarios alone', async () => {
    const results = join(dir, 'ablate');
    const r = await cli(['ablate', base, '--methods', 'fedpetuning,fedpft-n', '--seeds', '2', '--results', results, '--no-report']);
    expect(r.code, r.stderr).toBe(0);
    const grid = join(results, 'tiny4-ablate');
    const names = ['fedpetuning', 'fedpft-n'].flatMap((m) => [11, 12].map((s) => `tiny4__method=${m}__seed=${s}`));
    for (const name of names) expect(existsSync(join(grid, name, 'summary.json')), name).toBe(true);
    expect((json(join(grid, 'grid.json'))['runs'] as Array<{ name: string }>).map((x) => x.name)).toEqual(names);

    // The method switch keeps what the new method shares with the scenario's (all of FedPFT's
    // fields for a variant, lora and head for FedPETuning) and fills the rest with defaults.
    const n = json(join(grid, names[2] as string, 'scenario.json'));
    expect(n['method']).toMatchObject({ name: 'fedpft-n', interval: 2, proportion: 0.5, keep: 0.25, lora: { rank: 2, alpha: 4 }, distill: { dataset: 'fashion-mnist', steps: 5 } });
    expect(Object.keys(json(join(grid, names[0] as string, 'scenario.json'))['method'] as object).sort()).toEqual(['head', 'lora', 'name']);

    // The same scenarios, written independently, each run alone (one worker each, all at once;
    // the runtime section does not change results).
    const alone = join(dir, 'alone');
    const files = [
      writeScenario(dir, scenarioYaml(fm, METHOD_YAML.fedpetuning, 11), 'p11.yaml'),
      writeScenario(dir, scenarioYaml(fm, METHOD_YAML.fedpetuning, 12), 'p12.yaml'),
      writeScenario(dir, scenarioYaml(fm, METHOD_YAML.fedpft('fedpft-n'), 11), 'n11.yaml'),
      writeScenario(dir, scenarioYaml(fm, METHOD_YAML.fedpft('fedpft-n'), 12), 'n12.yaml'),
    ];
    const outs = await Promise.all(files.map((f, i) => cli(['run', f, '--results', alone, '--run-id', String(i), '--workers', '1'])));
    for (const o of outs) expect(o.code, o.stderr).toBe(0);
    names.forEach((name, i) => {
      const mine = join(grid, name);
      const ref = join(alone, 'tiny4', String(i));
      expect(outcome(mine), name).toEqual(outcome(ref));
    });
  });
});

describe('fedpft sweep', () => {
  it('sweeps partition.alpha; stopped after one run, it skips that run when started again', async () => {
    const results = join(dir, 'sweep');
    const args = ['sweep', petuning, '--set', 'partition.alpha=0.5,5', '--results', results];
    const first = await cli([...args, '--stop-after-runs', '1']);
    expect(first.code, first.stderr).toBe(0);
    expect(first.stdout).toMatch(/stopped after 1 runs/);
    const grid = join(results, 'tiny4-sweep');
    const [a, b] = ['0.5', '5'].map((v) => join(grid, `tiny4__partition.alpha=${v}__seed=11`)) as [string, string];
    expect(existsSync(join(a, 'summary.json'))).toBe(true);
    expect(existsSync(b)).toBe(false);
    expect(existsSync(join(grid, 'report.md'))).toBe(false);
    const before = mtimes(a);

    const second = await cli(args);
    expect(second.code, second.stderr).toBe(0);
    expect(second.stdout).toContain('[1/2] tiny4__partition.alpha=0.5__seed=11: finished earlier, skipped');
    expect(second.stdout).toContain('[2/2] tiny4__partition.alpha=5__seed=11: starting');
    expect(mtimes(a)).toEqual(before);
    expect(existsSync(join(b, 'summary.json'))).toBe(true);
    expect(json(join(a, 'partition.json'))['alpha']).toBe(0.5);
    expect(json(join(b, 'partition.json'))['alpha']).toBe(5);
    expect((json(join(b, 'scenario.json'))['partition'] as { alpha: number }).alpha).toBe(5);
    // The complete grid writes its report.
    expect(readFileSync(join(grid, 'report.csv'), 'utf8').trim().split('\n')).toHaveLength(3);

    // A third start finds nothing to do.
    const third = await cli(args);
    expect(third.code, third.stderr).toBe(0);
    expect(third.stdout).not.toMatch(/starting|resuming/);
    expect(mtimes(a)).toEqual(before);
  });

  it('killed in the middle of a run, it resumes that run and skips the finished one; results match an uninterrupted grid', async () => {
    const results = join(dir, 'sweep');
    const args = [CLI, 'sweep', petuning, '--set', 'partition.alpha=0.5,5', '--results', results, '--name', 'killed'];
    const child = spawn(process.execPath, args, { cwd: REPO, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    const killed = new Promise<void>((resolve, reject) => {
      child.stdout.on('data', (d: Buffer) => {
        out += d.toString();
        // Round 1 of the second run is checkpointed before its log line.
        if (/\[2\/2\][^\n]*starting[\s\S]*round 1\/2/.test(out) && child.exitCode === null) child.kill('SIGKILL');
      });
      child.on('close', (_code, signal) => (signal === 'SIGKILL' ? resolve() : reject(new Error(`the sweep was not killed: ${out}`))));
    });
    await killed;
    const grid = join(results, 'killed');
    const [a, b] = ['0.5', '5'].map((v) => join(grid, `tiny4__partition.alpha=${v}__seed=11`)) as [string, string];
    expect(existsSync(join(a, 'summary.json'))).toBe(true);
    // Round 2 takes far longer than the kill takes to land.
    expect(existsSync(join(b, 'summary.json'))).toBe(false);
    expect(existsSync(join(b, 'checkpoint.safetensors'))).toBe(true);
    const before = mtimes(a);

    const again = await cli(args.slice(1));
    expect(again.code, again.stderr).toBe(0);
    expect(again.stdout).toContain('[1/2] tiny4__partition.alpha=0.5__seed=11: finished earlier, skipped');
    expect(again.stdout).toMatch(/\[2\/2\] tiny4__partition.alpha=5__seed=11: resuming[\s\S]*resuming \S+ at round 2/);
    expect(mtimes(a)).toEqual(before);
    // The same grid run without interruption (by the previous test: this one needs it) gives the same numbers.
    for (const v of ['0.5', '5']) {
      const name = `tiny4__partition.alpha=${v}__seed=11`;
      expect(outcome(join(grid, name)), name).toEqual(outcome(join(results, 'tiny4-sweep', name)));
    }
  });

  it('rejects a bad --set with one line and exit code 2, before any run starts', async () => {
    const results = join(dir, 'bad');
    const cases: Array<[string[], RegExp]> = [
      [['--set', 'federation.rouns=3'], /federation\.rouns: unknown field "rouns"/],
      [['--set', 'partition.alpha=-1,0.5'], /--set: partition\.alpha: expected a number > 0, got -1/],
      [['--set', 'partition.alpha=lots'], /--set: partition\.alpha: expected a number > 0, got "lots"/],
      [['--set', 'method.interval=5'], /method\.interval: unknown field "interval"/],
      [['--set', 'seed.x=1'], /--set: seed\.x: seed is not a mapping/],
      [['--set', 'partition.alpha'], /--set: expected field=value/],
      [['--set', 'federation.clients=2'], /federation\.clientsPerRound: must be <= federation\.clients \(2\), got 3/],
    ];
    for (const [extra, pattern] of cases) {
      const r = await cli(['sweep', petuning, '--results', results, ...extra]);
      expect(r.code, extra.join(' ')).toBe(2);
      expect(r.stderr.trim().split('\n'), extra.join(' ')).toHaveLength(1);
      expect(r.stderr, extra.join(' ')).toMatch(pattern);
    }
    const m = await cli(['ablate', petuning, '--methods', 'fedpetuning,fedprox', '--results', results]);
    expect(m.code).toBe(2);
    expect(m.stderr.trim().split('\n')).toHaveLength(1);
    expect(m.stderr).toMatch(/method\.name: expected one of fedpetuning \| fedot/);
    expect(existsSync(results)).toBe(false);
  });
});

describe('--set parsing', () => {
  it('types values as YAML and splits on top-level commas only', () => {
    expect(parseSetOption('method.interval=5,10,20')).toEqual({ field: 'method.interval', values: [5, 10, 20] });
    expect(parseSetOption('task.dataset=mnist,fashion-mnist')).toEqual({ field: 'task.dataset', values: ['mnist', 'fashion-mnist'] });
    expect(parseSetOption('method.retained=[0, 3],[0,1,3]')).toEqual({ field: 'method.retained', values: [[0, 3], [0, 1, 3]] });
    expect(parseSetOption('name="a,b",c')).toEqual({ field: 'name', values: ['a,b', 'c'] });
    expect(() => parseSetOption('partition.alpha=0.5,')).toThrow(/empty value/);
    expect(() => parseSetOption('__proto__.polluted=1')).toThrow(/expected a dotted field name/);
  });
});
