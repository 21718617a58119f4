/**
 * runtime.actors: broker against a real redis-server and real `fedpft worker` processes: the same
 * bits as threads with 1 and 2 workers, through worker deaths and a Redis restart; one-line
 * errors when no worker comes, the broker is unreachable, or a worker must refuse the run.
 */
import { cpSync, existsSync, mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import { start, waitFor, type Exit } from './helpers/processes.js';
import { startRedis, type RedisServer } from './helpers/redis.js';
import { golden, outcome } from './helpers/kit.js';
import { makeTinyFm4, METHOD_YAML, tinyMethodScenario } from './helpers/tiny-fm4.js';
import { cli, makeTinyFm, REPO, tempDir, tinyScenario, writeScenario } from './helpers/tiny-run.js';

const GOLDEN = golden();

describe('broker actors (BullMQ on a real redis-server)', () => {
  let redis: RedisServer;
  let work: string;
  let fm: string;
  let fm4: string;
  let queues = 0;
  const workers: Array<ReturnType<typeof start>> = [];
  const results = () => join(work, 'results');
  const runDir = (name: string, id: string) => join(results(), name, id);
  /** runtime lines for a fresh queue, so no test sees another's jobs or workers. */
  const brokerRuntime = (queue: string, waitSeconds = 20, url = redis.url) => `  actors: broker\n  broker: { url: "${url}", queue: ${queue}, waitSeconds: ${waitSeconds} }\n`;
  const newQueue = () => `q${++queues}`;
  const worker = (queue: string, extra: string[] = [], env?: NodeJS.ProcessEnv, url = redis.url) => {
    const w = start(['worker', '--broker', url, '--queue', queue, '--cache', join(work, 'cache'), '--lock-seconds', '2', ...extra], env);
    workers.push(w);
    return w;
  };
  const ready = (w: ReturnType<typeof start>) => waitFor(() => w.output().includes('serves queue'), 'the worker to start', w.exited, 30_000);

  beforeAll(async () => {
    redis = await startRedis();
    work = tempDir('broker');
    fm = join(work, 'fm');
    fm4 = join(work, 'fm4');
    await Promise.all([makeTinyFm(fm), makeTinyFm4(fm4)]);
  });

  afterEach(async () => {
    for (const w of workers.splice(0)) {
      w.child.kill('SIGKILL');
      await w.exited;
    }
  });

  afterAll(async () => {
    await redis?.stop();
  });

  it('1 worker, 2 workers, and 1 worker with 2 actors all give the golden bits', async () => {
    for (const [id, counts] of [['b1', [1]], ['b2', [1, 1]], ['b1x2', [2]]] as const) {
      const queue = newQueue();
      const file = writeScenario(work, tinyScenario(fm, brokerRuntime(queue)), `${id}.yaml`);
      const ws = counts.map((c) => worker(queue, ['--concurrency', String(c)]));
      await Promise.all(ws.map(ready));
      const r = await cli(['run', file, '--results', results(), '--run-id', id]);
      expect(r.code, r.stderr).toBe(0);
      expect(outcome(runDir('tiny', id))).toEqual(GOLDEN);
      const served = ws.map((w) => (w.output().match(/: done in /g) ?? []).length);
      // 4 rounds of 4 clients, each served once; with 2 workers both took part.
      expect(served.reduce((a, b) => a + b, 0)).toBe(16);
      if (ws.length === 2) expect(Math.min(...served)).toBeGreaterThan(0);
      expect(JSON.parse(readFileSync(join(runDir('tiny', id), 'environment.json'), 'utf8'))['actors']).toBe('broker');
    }
  });

  it('the fast kernel set: 1 worker with 2 actor threads gives the fast golden bits (its OpenBLAS is first loaded by an actor thread)', async () => {
    const queue = newQueue();
    const file = writeScenario(work, tinyScenario(fm, brokerRuntime(queue)), 'fast.yaml');
    await ready(worker(queue, ['--concurrency', '2']));
    const r = await cli(['run', file, '--results', results(), '--run-id', 'fast', '--kernels', 'fast']);
    expect(r.code, r.stderr).toBe(0);
    expect(outcome(runDir('tiny', 'fast'))).toEqual(JSON.parse(readFileSync(join(REPO, 'test/golden/tiny-fedpetuning-fast.json'), 'utf8')));
  });

  it('the fast set on a worker without OpenBLAS: the worker refuses, the run stops in one line and writes no summary', async () => {
    const queue = newQueue();
    const file = writeScenario(work, tinyScenario(fm, brokerRuntime(queue)), 'fast-missing.yaml');
    const w = worker(queue, [], { FEDPFT_OPENBLAS: join(work, 'no-such-libopenblas.so') });
    await ready(w);
    const r = await cli(['run', file, '--results', results(), '--run-id', 'fast-missing', '--kernels', 'fast']);
    expect(r.code).toBe(1);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(/cannot start its actors on wasm \(fast kernels\).*no-such-libopenblas\.so/);
    expect(existsSync(join(runDir('tiny', 'fast-missing'), 'summary.json'))).toBe(false);
  });

  it('FedPFT realigning during FL with injected task errors and actor crashes equals threads without faults', async () => {
    const queue = newQueue();
    const scenario = tinyMethodScenario(fm4, METHOD_YAML.fedpft()).replace('rounds: 4', 'rounds: 3');
    const plain = writeScenario(work, scenario, 'fedpft.yaml');
    const faulty = writeScenario(work, `${scenario}${brokerRuntime(queue)}faults: { taskErrors: 0.2, workerCrashes: 0.4 }\n`, 'fedpft-broker.yaml');
    const a = await cli(['run', plain, '--results', results(), '--run-id', 'threads', '--workers', '2']);
    expect(a.code, a.stderr).toBe(0);
    await Promise.all([worker(queue), worker(queue)].map(ready));
    const b = await cli(['run', faulty, '--results', results(), '--run-id', 'broker']);
    expect(b.code, b.stderr).toBe(0);
    expect(b.stdout).toMatch(/failed \(injected task error/);
    expect(b.stdout).toMatch(/failed \(actor slot 0 lost its worker thread/);
    expect(outcome(runDir('tiny4', 'broker'))).toEqual(outcome(runDir('tiny4', 'threads')));
  });

  it('a worker killed with SIGKILL mid-task: its task goes to another worker and the run ends bit-identical', async () => {
    const queue = newQueue();
    // Long enough tasks that the kill lands inside one.
    const scenario = tinyScenario(fm).replace('batchSize: 16', 'batchSize: 16\n  localEpochs: 12').replace('name: tiny', 'name: slow');
    const plain = writeScenario(work, scenario, 'slow.yaml');
    const brokered = writeScenario(work, `${scenario}${brokerRuntime(queue)}`, 'slow-broker.yaml');
    const ref = await cli(['run', plain, '--results', results(), '--run-id', 'threads', '--workers', '2']);
    expect(ref.code, ref.stderr).toBe(0);
    const [victim, survivor] = [worker(queue), worker(queue)];
    await Promise.all([victim, survivor].map(ready));
    const run = start(['run', brokered, '--results', results(), '--run-id', 'killed']);
    // Right after its first task the victim takes the next waiting one: kill it inside that.
    await waitFor(() => victim.output().includes(': done in '), "the victim's first task", run.exited);
    victim.child.kill('SIGKILL');
    const end: Exit = await run.exited;
    expect(end.code, end.stderr).toBe(0);
    expect(survivor.output()).toMatch(/handed on from a worker that stopped/);
    expect(outcome(runDir('slow', 'killed'))).toEqual(outcome(runDir('slow', 'threads')));
  });

  it('Redis restarted mid-run: the run finishes, or stops at its checkpoint in one line and --resume ends bit-identical', async () => {
    const own = await startRedis({ restartable: true });
    onTestFinished(() => own.stop());
    const queue = newQueue();
    const scenario = tinyScenario(fm).replace('batchSize: 16', 'batchSize: 16\n  localEpochs: 6').replace('name: tiny', 'name: restart').replace('rounds: 4', 'rounds: 6');
    const plain = writeScenario(work, scenario, 'restart.yaml');
    const brokered = writeScenario(work, `${scenario}${brokerRuntime(queue, 15, own.url)}`, 'restart-broker.yaml');
    const ref = await cli(['run', plain, '--results', results(), '--run-id', 'threads', '--workers', '2']);
    expect(ref.code, ref.stderr).toBe(0);
    await Promise.all([worker(queue, [], undefined, own.url), worker(queue, [], undefined, own.url)].map(ready));
    const run = start(['run', brokered, '--results', results(), '--run-id', 'broker']);
    await waitFor(() => /^round 2\//m.test(run.output()), 'round 2', run.exited);
    await own.restart();
    const end = await run.exited;
    if (end.code !== 0) {
      expect(end.code, end.stderr).toBe(1);
      expect(end.stderr.trim().split('\n')).toHaveLength(1);
      const resumed = await cli(['run', brokered, '--results', results(), '--resume', 'broker']);
      expect(resumed.code, resumed.stderr).toBe(0);
    }
    console.log(`Redis restart: the first server ${end.code === 0 ? 'finished' : `stopped (${end.stderr.trim()}) and the resumed one finished`}`);
    expect(outcome(runDir('restart', 'broker'))).toEqual(outcome(runDir('restart', 'threads')));
  });

  it('a grid on the broker (one host shared by its runs, with retried task errors): each run gets the bits it gets on threads', async () => {
    const queue = newQueue();
    const scenario = `${tinyScenario(fm).replace('name: tiny', 'name: grid')}faults: { taskErrors: 0.3 }\n`;
    const plain = writeScenario(work, scenario, 'grid.yaml');
    const brokered = writeScenario(work, scenario.replace('runtime:\n  backend: wasm\n', `runtime:\n  backend: wasm\n${brokerRuntime(queue)}`), 'grid-broker.yaml');
    await ready(worker(queue, ['--concurrency', '2']));
    const grid = (file: string, name: string) => cli(['sweep', file, '--set', 'federation.learningRate=0.01,0.02', '--name', name, '--results', results(), '--no-report']);
    const a = await grid(plain, 'grid-threads');
    expect(a.code, a.stderr).toBe(0);
    const b = await grid(brokered, 'grid-broker');
    expect(b.code, b.stderr).toBe(0);
    for (const lr of ['0.01', '0.02']) {
      const point = `grid__federation.learningRate=${lr}__seed=7`;
      expect(outcome(runDir('grid-broker', point)), point).toEqual(outcome(runDir('grid-threads', point)));
    }
  });

  it('no worker within waitSeconds: one line naming the queue and the URL, exit 1, nothing under results/', async () => {
    const file = writeScenario(work, tinyScenario(fm, brokerRuntime('nobody', 2)).replace('name: tiny', 'name: lonely'), 'lonely.yaml');
    const r = await cli(['run', file, '--results', results()]);
    expect(r.code).toBe(1);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toContain(`queue "nobody" on ${redis.url}`);
    expect(existsSync(join(results(), 'lonely'))).toBe(false);
  });

  it('an unreachable broker or a malformed URL: one line, exit 2, nothing under results/', async () => {
    for (const url of ['redis://127.0.0.1:1', 'http://127.0.0.1:6379', 'redis://127.0.0.1']) {
      const file = writeScenario(work, tinyScenario(fm, `  actors: broker\n  broker: { url: "${url}" }\n`).replace('name: tiny', 'name: unreachable'), 'unreachable.yaml');
      const r = await cli(['run', file, '--results', results()]);
      expect(r.code, url).toBe(2);
      expect(r.stderr.trim().split('\n'), url).toHaveLength(1);
      expect(r.stderr, url).toMatch(url === 'redis://127.0.0.1:1' ? /no Redis server answers at redis:\/\/127\.0\.0\.1:1/ : /runtime\.broker\.url.*expected a Redis URL/);
      expect(existsSync(join(results(), 'unreachable'))).toBe(false);
    }
    const w = await cli(['worker', '--broker', 'redis://127.0.0.1:1']);
    expect(w.code).toBe(2);
    expect(w.stderr.trim().split('\n')).toHaveLength(1);
  });

  it('a worker on another backend, or of another fedpft version, makes the run stop in one line (exit 1)', async () => {
    const mixed = newQueue();
    await ready(worker(mixed, [], { FEDPFT_ACTOR_BACKEND: 'cpu' }));
    const a = await cli(['run', writeScenario(work, tinyScenario(fm, brokerRuntime(mixed)).replace('name: tiny', 'name: mixed'), 'mixed.yaml'), '--results', results()]);
    expect(a.code).toBe(1);
    expect(a.stderr.trim().split('\n')).toHaveLength(1);
    expect(a.stderr).toMatch(/worker \S+ runs the cpu backend, the server wasm/);

    // The same code under another version number: a copy of the build with its own package.json.
    const other = join(work, 'other-version');
    mkdirSync(other, { recursive: true });
    cpSync(join(REPO, 'dist'), join(other, 'dist'), { recursive: true });
    symlinkSync(join(REPO, 'node_modules'), join(other, 'node_modules'));
    const manifest = JSON.parse(readFileSync(join(REPO, 'package.json'), 'utf8')) as Record<string, unknown>;
    writeFileSync(join(other, 'package.json'), JSON.stringify({ ...manifest, version: '0.0.0-other' }));
    const old = newQueue();
    const oldWorker = start(['worker', '--broker', redis.url, '--queue', old, '--cache', join(work, 'cache')], undefined, join(other, 'dist/cli.js'));
    workers.push(oldWorker);
    await ready(oldWorker);
    const b = await cli(['run', writeScenario(work, tinyScenario(fm, brokerRuntime(old)).replace('name: tiny', 'name: versions'), 'versions.yaml'), '--results', results()]);
    expect(b.code).toBe(1);
    expect(b.stderr.trim().split('\n')).toHaveLength(1);
    expect(b.stderr).toMatch(/a worker refused round 1, client \d+: worker \S+ runs fedpft 0\.0\.0-other, the server \d+\.\d+\.\d+/);
  });
});
