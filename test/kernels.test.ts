/**
 * The `fast` kernel set: wasm's float32 matrix products by OpenBLAS. Checked against a hand loop
 * in double precision, deterministic on its own (1 and 2 workers, threads and processes, resume),
 * pinned by its own golden file, refused in one line where OpenBLAS is missing, and never mixed
 * with the exact set in one run. Fails (never skips) without Debian's libopenblas0-pthread.
 */
import * as tf from '@tensorflow/tfjs-core';
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../src/tensor/backend.js';
import { golden, outcome as runOutcome } from './helpers/kit.js';
import { cli, makeTinyFm, REPO, tempDir, tinyScenario, writeScenario } from './helpers/tiny-run.js';

const GOLDEN_FAST = join(REPO, 'test/golden/tiny-fedpetuning-fast.json');

/** op(A) op(B) per batch in double precision, from row-major values. */
function handMatMul(a: Float32Array, b: Float32Array, batch: number, m: number, k: number, n: number, tA: boolean, tB: boolean, sharedB: boolean): Float64Array {
  const out = new Float64Array(batch * m * n);
  for (let p = 0; p < batch; p++) {
    const ao = p * m * k;
    const bo = sharedB ? 0 : p * k * n;
    for (let i = 0; i < m; i++) {
      for (let j = 0; j < n; j++) {
        let s = 0;
        for (let q = 0; q < k; q++) s += (a[ao + (tA ? q * m + i : i * k + q)] as number) * (b[bo + (tB ? j * k + q : q * n + j)] as number);
        out[p * m * n + i * n + j] = s;
      }
    }
  }
  return out;
}

describe('fast kernels: OpenBLAS matrix products in the wasm heap', () => {
  beforeAll(async () => {
    const info = await initBackend('wasm', 'fast');
    expect(info.kernels).toBe('fast');
    expect(info.blas).toMatch(/OpenBLAS/);
  });

  it.each([
    [1, 37, 19, 23, false, false, false],
    [1, 64, 128, 96, true, false, false],
    [1, 64, 128, 96, false, true, false],
    [3, 17, 16, 33, false, false, true],
    [3, 17, 16, 33, true, true, false],
    [4, 9, 32, 9, false, true, false],
  ])('batch %i, %ix%ix%i, transposeA %s, transposeB %s, shared B %s: a double-precision hand loop to float32 rounding, the same bits every time', async (batch, m, k, n, tA, tB, sharedB) => {
    const aShape = [batch, ...(tA ? [k, m] : [m, k])];
    const bShape = [...(sharedB ? [] : [batch]), ...(tB ? [n, k] : [k, n])];
    const a = tf.randomUniform(aShape, -1, 1, 'float32', 1);
    const b = tf.randomUniform(bShape, -1, 1, 'float32', 2);
    const bBatched = sharedB ? tf.reshape(b, [1, ...bShape]) : b;
    const c = tf.matMul(a, bBatched, tA, tB);
    const values = (await c.data()) as Float32Array;
    const want = handMatMul((await a.data()) as Float32Array, (await b.data()) as Float32Array, batch, m, k, n, tA, tB, sharedB);
    for (let i = 0; i < want.length; i++) expect(Math.abs((values[i] as number) - (want[i] as number))).toBeLessThan(1e-5 * k);
    const again = (await tf.matMul(a, bBatched, tA, tB).data()) as Float32Array;
    expect(again).toEqual(values);
  });
});

describe('OpenBLAS loaded first by a worker thread (a `fedpft worker` actor)', () => {
  it('runs the pinned core: the C environment, not the thread\'s copy of process.env', () => {
    const script = `
      import { Worker } from 'node:worker_threads';
      const code = \`
        const { parentPort } = await import('node:worker_threads');
        const { openBlas } = await import(\${JSON.stringify(${JSON.stringify(join(REPO, 'dist/src/tensor/blas.js'))})});
        const blas = openBlas();
        parentPort.postMessage(JSON.stringify({ blas: typeof blas === 'string' ? blas : blas.config }));
      \`;
      new Worker(code, { eval: true }).on('message', (m) => console.log(m));
    `;
    const env = { ...process.env };
    delete env['OPENBLAS_NUM_THREADS'];
    delete env['OPENBLAS_CORETYPE'];
    const out = JSON.parse(execFileSync(process.execPath, ['--input-type=module', '-e', script], { cwd: REPO, env, encoding: 'utf8' })) as { blas: string };
    expect(readFileSync('/proc/cpuinfo', 'utf8')).toMatch(/ avx2 .* fma |\bfma\b.*\bavx2\b/);
    // This machine's own core is another (Cooperlake): only a pinned environment gives Haswell.
    expect(out.blas).toMatch(/core Haswell$/);
  });
});

describe('the fast set through the CLI (tiny FedPETuning scenario)', () => {
  let work: string;
  let file: string;
  const results = () => join(work, 'results');
  const runDir = (id: string) => join(results(), 'tiny', id);
  const outcome = (id: string) => runOutcome(runDir(id));
  const run = (args: string[], env?: NodeJS.ProcessEnv) => cli(['run', file, '--results', results(), '--kernels', 'fast', ...args], REPO, env);

  beforeAll(async () => {
    work = tempDir('kernels');
    await makeTinyFm(join(work, 'fm'));
    file = writeScenario(work, tinyScenario(join(work, 'fm')));
  });

  it('1 and 2 workers on threads and processes, and a resumed run, give the same bits, pinned in test/golden; they differ from the exact set', async () => {
    for (const [id, workers, actors] of [['t1', 1, 'threads'], ['t2', 2, 'threads'], ['p2', 2, 'processes']] as const) {
      const r = await run(['--run-id', id, '--workers', String(workers), '--actors', actors]);
      expect(r.code, r.stderr).toBe(0);
    }
    expect((await run(['--run-id', 'r', '--workers', '2', '--stop-after-round', '2'])).code).toBe(0);
    const resumed = await run(['--resume', 'r', '--workers', '1']);
    expect(resumed.code, resumed.stderr).toBe(0);
    for (const id of ['t2', 'p2', 'r']) expect(outcome(id), id).toEqual(outcome('t1'));
    const env = JSON.parse(readFileSync(join(runDir('t1'), 'environment.json'), 'utf8')) as Record<string, unknown>;
    expect(env['kernels']).toBe('fast');
    expect(env['blas']).toMatch(/OpenBLAS/);
    expect((JSON.parse(readFileSync(join(runDir('t1'), 'summary.json'), 'utf8')) as Record<string, unknown>)['kernels']).toBe('fast');
    const actual = outcome('t1');
    if (process.env['UPDATE_GOLDEN'] === '1' || !existsSync(GOLDEN_FAST)) {
      writeFileSync(GOLDEN_FAST, JSON.stringify(actual, null, 2) + '\n');
      if (process.env['UPDATE_GOLDEN'] !== '1') throw new Error(`wrote missing golden file ${GOLDEN_FAST}; commit it`);
    }
    expect(actual).toEqual(JSON.parse(readFileSync(GOLDEN_FAST, 'utf8')));
    expect(actual.finalWeightsSha256).not.toBe(golden().finalWeightsSha256);
  });

  it('resuming with another kernel set is refused: one line, exit 2', async () => {
    expect((await run(['--run-id', 'mixed', '--stop-after-round', '1'])).code).toBe(0);
    const r = await cli(['run', file, '--results', results(), '--resume', 'mixed', '--kernels', 'exact']);
    expect(r.code).toBe(2);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(/this run ran the fast kernel set and this process runs exact; resume it with --kernels fast/);
  });

  describe('the default, auto: the fastest set this machine has', () => {
    let autoFile: string;
    const autoRun = (args: string[], env?: NodeJS.ProcessEnv) => cli(['run', autoFile, '--results', results(), ...args], REPO, env);
    const noBlas = () => ({ FEDPFT_OPENBLAS: join(work, 'no-such-libopenblas.so') });
    const json = (id: string, file: string) => JSON.parse(readFileSync(join(runDir(id), file), 'utf8')) as Record<string, unknown> & { runtime: { kernels: string } };

    beforeAll(() => {
      autoFile = writeScenario(work, tinyScenario(join(work, 'fm')).replace('  kernels: exact\n', ''), 'tiny-auto.yaml');
      expect(readFileSync(autoFile, 'utf8')).not.toMatch(/kernels:/);
    });

    it('runs fast where OpenBLAS loads, records the set in scenario.json, and resumes under it', async () => {
      const r = await autoRun(['--run-id', 'auto', '--workers', '2']);
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout).toMatch(/backend wasm \(fast kernels: OpenBLAS [\d.]+, Haswell core\)/);
      expect(runOutcome(runDir('auto'))).toEqual(JSON.parse(readFileSync(GOLDEN_FAST, 'utf8')));
      expect(json('auto', 'scenario.json').runtime.kernels).toBe('fast');
      expect(json('auto', 'environment.json')['kernels']).toBe('fast');
      expect((await autoRun(['--run-id', 'auto-r', '--stop-after-round', '2'])).code).toBe(0);
      const resumed = await autoRun(['--resume', 'auto-r']);
      expect(resumed.code, resumed.stderr).toBe(0);
      expect(runOutcome(runDir('auto-r'))).toEqual(runOutcome(runDir('auto')));
    });

    it('runs exact where OpenBLAS is missing, saying why in one line, with the exact golden bits', async () => {
      const r = await autoRun(['--run-id', 'auto-none'], noBlas());
      expect(r.code, r.stderr).toBe(0);
      const why = r.stdout.split('\n').filter((l) => l.includes('fast kernels unavailable'));
      expect(why).toHaveLength(1);
      expect(why[0]).toMatch(/running exact: .*no-such-libopenblas\.so: .*install Debian's libopenblas0-pthread/);
      expect(runOutcome(runDir('auto-none'))).toEqual(golden());
      expect(json('auto-none', 'scenario.json').runtime.kernels).toBe('exact');
      expect(json('auto-none', 'environment.json')['fastUnavailable']).toBe(why[0]);
    });

    it('a fast run resumed where OpenBLAS is missing is refused in one line, exit 2, and says why', async () => {
      expect((await autoRun(['--run-id', 'auto-moved', '--stop-after-round', '1'])).code).toBe(0);
      const r = await autoRun(['--resume', 'auto-moved'], noBlas());
      expect(r.code).toBe(2);
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
      expect(r.stderr).toMatch(/auto-moved: scenario\.json: this run ran the fast kernel set, which cannot load here \(runtime\.kernels: fast needs OpenBLAS: .*no-such-libopenblas\.so/);
    });

    it('an exact run (started where OpenBLAS was missing) resumes exact under auto, with the exact golden bits', async () => {
      expect((await autoRun(['--run-id', 'auto-was-exact', '--stop-after-round', '2'], noBlas())).code).toBe(0);
      const r = await autoRun(['--resume', 'auto-was-exact']);
      expect(r.code, r.stderr).toBe(0);
      expect(json('auto-was-exact', 'scenario.json').runtime.kernels).toBe('exact');
      expect(runOutcome(runDir('auto-was-exact'))).toEqual(golden());
    });

    it('a grid keeps the set its runs ran: auto continues it, another set is refused in one line', async () => {
      const grid = (extra: string[], env?: NodeJS.ProcessEnv) => cli(['sweep', autoFile, '--set', 'federation.learningRate=0.01,0.02', '--name', 'kgrid', '--results', results(), '--no-report', ...extra], REPO, env);
      expect((await grid(['--stop-after-runs', '1'], noBlas())).code).toBe(0);
      const refused = await grid(['--kernels', 'fast']);
      expect(refused.code).toBe(2);
      expect(refused.stderr.trim().split('\n')).toHaveLength(1);
      expect(refused.stderr).toMatch(/kgrid: this grid's runs ran the exact kernel set and this call asks for fast; pass --kernels exact/);
      const r = await grid([]);
      expect(r.code, r.stderr).toBe(0);
      const runs = readdirSync(join(results(), 'kgrid')).filter((d) => existsSync(join(results(), 'kgrid', d, 'summary.json')));
      expect(runs).toHaveLength(2);
      for (const d of runs) expect((JSON.parse(readFileSync(join(results(), 'kgrid', d, 'scenario.json'), 'utf8')) as { runtime: { kernels: string } }).runtime.kernels).toBe('exact');
    });
  });

  it('where OpenBLAS cannot be loaded: one line naming the library and what to install, exit 2, nothing under results/', async () => {
    const root = join(work, 'none');
    const r = await cli(['run', file, '--results', root, '--kernels', 'fast'], REPO, { FEDPFT_OPENBLAS: join(work, 'no-such-libopenblas.so') });
    expect(r.code).toBe(2);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(/runtime\.kernels: fast needs OpenBLAS: .*no-such-libopenblas\.so: .*install Debian's libopenblas0-pthread/);
    expect(existsSync(root)).toBe(false);
  });
});
