/**
 * A researcher's own methods, outside the repository: docs/examples' FedProx and FedAvgM are
 * copied into a temporary project that installs fedpft (node_modules/fedpft), named by
 * `method.module` in scenario files there, and run through the CLI on every actor host. Their
 * numerics are checked against hand computations; their runs must not depend on the host, the
 * worker count or a resume.
 */
import * as tf from '@tensorflow/tfjs-core';
import { cpSync, existsSync, mkdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { methodRef, resolveRef } from '../src/methods/user-module.js';
import type { MethodOptions } from '../src/scenario/schema.js';
import { start, waitFor } from './helpers/processes.js';
import { golden, outcome, summaryOf } from './helpers/kit.js';
import { startRedis, type RedisServer } from './helpers/redis.js';
import { cli, makeTinyFm, REPO, tempDir, tinyScenario, writeScenario } from './helpers/tiny-run.js';

const GOLDEN = golden();

type Vars = ReadonlyMap<string, tf.Variable>;
interface FedProxModule {
  proximalTerm: (vars: Vars, anchor: ReadonlyMap<string, tf.Tensor>, mu: number) => tf.Scalar;
}
interface FedAvgMModule {
  momentumStep: (global: Float32Array, average: Float32Array, velocity: Float32Array, beta: number, serverLr: number) => { next: Float32Array; velocity: Float32Array };
}

describe('user methods in a project outside the repository', () => {
  let project: string;
  let fm: string;
  let redis: RedisServer;
  const results = () => join(project, 'results');
  const runDir = (name: string, id: string) => join(results(), name, id);
  const scenario = (name: string, method: string, runtime = '', file = `${name}.yaml`) =>
    writeScenario(project, tinyScenario(fm, runtime).replace('name: tiny', `name: ${name}`).replace(/method:\n {2}name: fedpetuning\n {2}lora: .*\n/, `method:\n${method}\n`), file);
  const run = async (file: string, id: string, extra: string[]) => {
    const r = await cli(['run', file, '--results', results(), '--run-id', id, ...extra], project);
    expect(r.code, r.stderr).toBe(0);
    return r;
  };

  beforeAll(async () => {
    project = tempDir('user-methods');
    // The project installs fedpft as a dependency; its methods import it by name.
    mkdirSync(join(project, 'node_modules'));
    symlinkSync(REPO, join(project, 'node_modules', 'fedpft'), 'dir');
    mkdirSync(join(project, 'methods'));
    for (const file of ['fedprox.js', 'fedavgm.js']) cpSync(join(REPO, 'docs/examples', file), join(project, 'methods', file));
    fm = join(project, 'fm');
    await makeTinyFm(fm);
    redis = await startRedis();
  });

  afterAll(async () => {
    await redis?.stop();
  });

  const load = async <T>(file: string) => (await import(pathToFileURL(join(project, 'methods', file)).href)) as T;

  it("FedProx's proximal term: value and gradient equal a hand loop", async () => {
    const { proximalTerm } = await load<FedProxModule>('fedprox.js');
    const w = [0.5, -1.25, 2, 0.125, -0.375, 3];
    const w0 = [0.25, -1, 1.5, 0.5, 0, 2.5];
    const mu = 0.3;
    const vars = new Map<string, tf.Variable>([['a', tf.variable(tf.tensor2d(w.slice(0, 4), [2, 2]))], ['b', tf.variable(tf.tensor1d(w.slice(4)))]]);
    const anchor = new Map<string, tf.Tensor>([['a', tf.tensor2d(w0.slice(0, 4), [2, 2])], ['b', tf.tensor1d(w0.slice(4))]]);
    try {
      const { value, grads } = tf.variableGrads(() => proximalTerm(vars, anchor, mu), [...vars.values()]);
      let hand = 0;
      for (let i = 0; i < w.length; i++) hand += ((w[i] as number) - (w0[i] as number)) ** 2;
      expect(value.dataSync()[0]).toBeCloseTo((mu / 2) * hand, 5);
      const got = [...(grads[(vars.get('a') as tf.Variable).name] as tf.Tensor).dataSync(), ...(grads[(vars.get('b') as tf.Variable).name] as tf.Tensor).dataSync()];
      got.forEach((g, i) => expect(g).toBeCloseTo(mu * ((w[i] as number) - (w0[i] as number)), 5));
      tf.dispose([value, ...Object.values(grads)]);
    } finally {
      tf.dispose([...vars.values(), ...anchor.values()]);
    }
  });

  it("FedAvgM's server step: two rounds equal the momentum recursion by hand", async () => {
    const { momentumStep } = await load<FedAvgMModule>('fedavgm.js');
    const f = (xs: number[]) => Float32Array.from(xs);
    // v1 = w0 - a1 = [0.5, -1]; w1 = w0 - v1 = [0.5, 3]; v2 = 0.9 v1 + (w1 - a2) = [0.7, 0.1]; w2 = w1 - v2.
    const first = momentumStep(f([1, 2]), f([0.5, 3]), f([0, 0]), 0.9, 1);
    expect([...first.velocity]).toEqual([0.5, -1]);
    expect([...first.next]).toEqual([0.5, 3]);
    const second = momentumStep(first.next, f([0.25, 2]), first.velocity, 0.9, 1);
    [0.7, 0.1].forEach((v, i) => expect(second.velocity[i]).toBeCloseTo(v, 6));
    [-0.2, 2.9].forEach((w, i) => expect(second.next[i]).toBeCloseTo(w, 6));
    // A server learning rate scales the step.
    expect([...momentumStep(f([1]), f([0.5]), f([0]), 0.9, 0.5).next]).toEqual([0.75]);
  });

  it('FedProx with mu = 0 is FedPETuning bit for bit; with mu > 0 it differs', async () => {
    await run(scenario('prox0', '  module: ./methods/fedprox.js\n  name: fedprox\n  mu: 0\n  lora: { rank: 4, alpha: 8, dropout: 0.1 }'), 'threads1', ['--workers', '1']);
    expect(outcome(runDir('prox0', 'threads1'))).toEqual(GOLDEN);
    expect(summaryOf(runDir('prox0', 'threads1')).method).toBe('fedprox');
    expect(summaryOf(runDir('prox0', 'threads1')).localTraining?.optimizer).toBe("fedprox's client.train");
    await run(scenario('prox', '  module: ./methods/fedprox.js\n  name: fedprox\n  mu: 0.5\n  lora: { rank: 4, alpha: 8, dropout: 0.1 }'), 'threads1', ['--workers', '1']);
    expect(outcome(runDir('prox', 'threads1')).finalWeightsSha256).not.toBe(GOLDEN.finalWeightsSha256);
  });

  const hostsCheck = async (name: string, method: string) => {
    const file = scenario(name, method);
    await run(file, 'threads1', ['--workers', '1']);
    const reference = outcome(runDir(name, 'threads1'));
    await run(file, 'threads2', ['--workers', '2']);
    expect(outcome(runDir(name, 'threads2'))).toEqual(reference);
    await run(file, 'processes2', ['--workers', '2', '--actors', 'processes']);
    expect(outcome(runDir(name, 'processes2'))).toEqual(reference);
    await run(file, 'resumed', ['--workers', '2', '--stop-after-round', '2']);
    const resumed = await cli(['run', file, '--results', results(), '--resume', 'resumed'], project);
    expect(resumed.code, resumed.stderr).toBe(0);
    expect(outcome(runDir(name, 'resumed'))).toEqual(reference);
    const queue = `user-${name}`;
    const worker = start(['worker', '--broker', redis.url, '--queue', queue, '--cache', join(project, 'cache'), '--lock-seconds', '2']);
    try {
      await waitFor(() => worker.output().includes('serves queue'), 'the worker to start', worker.exited, 30_000);
      await run(scenario(name, method, `  actors: broker\n  broker: { url: "${redis.url}", queue: ${queue}, waitSeconds: 20 }\n`, `${name}-broker.yaml`), 'broker', []);
      expect(outcome(runDir(name, 'broker'))).toEqual(reference);
    } finally {
      worker.child.kill('SIGKILL');
      await worker.exited;
    }
    return reference;
  };

  it('FedProx: the same bits on threads (1 and 2 workers), processes, the broker, and after a resume', async () => {
    await hostsCheck('fedprox', '  module: ./methods/fedprox.js\n  name: fedprox\n  mu: 0.5\n  lora: { rank: 4, alpha: 8, dropout: 0.1 }');
  });

  it('FedAvgM: the same bits on every host and after a resume (the velocity is restored), unlike FedAvg', async () => {
    const reference = await hostsCheck('fedavgm', '  module: ./methods/fedavgm.js\n  name: fedavgm\n  beta: 0.5\n  lora: { rank: 4, alpha: 8, dropout: 0.1 }');
    expect(reference.finalWeightsSha256).not.toBe(GOLDEN.finalWeightsSha256);
  });

  it('a long-lived broker worker runs the current contents of a module changed between two runs', async () => {
    const file = join(project, 'methods', 'prox-edit.js');
    const original = readFileSync(join(REPO, 'docs/examples/fedprox.js'), 'utf8');
    const edited = original.replace('return tf.mul(sum, mu / 2);', 'return tf.mul(sum, mu * 4);');
    expect(edited).not.toBe(original);
    const method = '  module: ./methods/prox-edit.js\n  name: fedprox\n  mu: 0.5\n  lora: { rank: 4, alpha: 8, dropout: 0.1 }';
    const queue = 'user-edit';
    const broker = `  actors: broker\n  broker: { url: "${redis.url}", queue: ${queue}, waitSeconds: 20 }\n`;
    const worker = start(['worker', '--broker', redis.url, '--queue', queue, '--cache', join(project, 'cache'), '--lock-seconds', '2']);
    try {
      await waitFor(() => worker.output().includes('serves queue'), 'the worker to start', worker.exited, 30_000);
      for (const [version, text] of [['v1', original], ['v2', edited]] as const) {
        writeFileSync(file, text);
        const local = scenario(`edit-${version}`, method);
        await run(local, 'threads', ['--workers', '1']);
        await run(scenario(`edit-${version}`, method, broker, `edit-${version}-broker.yaml`), 'broker', []);
        expect(outcome(runDir(`edit-${version}`, 'broker')), version).toEqual(outcome(runDir(`edit-${version}`, 'threads')));
      }
      expect(outcome(runDir('edit-v2', 'threads')).finalWeightsSha256).not.toBe(outcome(runDir('edit-v1', 'threads')).finalWeightsSha256);
    } finally {
      worker.child.kill('SIGKILL');
      await worker.exited;
    }
  });

  it("an actor refuses its copy of a module that differs from the server's, and names one it lacks", async () => {
    const copy = (name: string) => {
      const file = join(project, 'methods', name);
      cpSync(join(project, 'methods', 'fedprox.js'), file);
      return methodRef({ name: 'fedprox', module: file } as MethodOptions);
    };
    const same = copy('fedprox-same.js');
    expect((await resolveRef(same)).name).toBe('fedprox');
    const edited = copy('fedprox-edited.js');
    writeFileSync(edited.options.module as string, `${readFileSync(edited.options.module as string, 'utf8')}\n// edited on this machine\n`);
    await expect(async () => resolveRef(edited)).rejects.toThrow(/^method module .*fedprox-edited\.js differs from the server's \(sha256 [0-9a-f]{12} here, [0-9a-f]{12} there\)$/);
    const missing = copy('fedprox-missing.js');
    rmSync(missing.options.module as string);
    await expect(async () => resolveRef(missing)).rejects.toThrow(/fedprox-missing\.js: file not found/);
  });

  it('a bad option, a missing module and a module without a definition are one-line errors, exit 2, nothing written', async () => {
    writeScenario(join(project, 'methods'), 'export default { name: "plain" };\n', 'plain.js');
    const cases: Array<[string, RegExp]> = [
      ['  module: ./methods/fedprox.js\n  name: fedprox\n  mu: -1', /bad\.yaml: method\.mu: expected a number >= 0, got -1$/],
      ['  module: ./methods/absent.js\n  name: absent', /bad\.yaml: method\.module: file not found: .*absent\.js$/],
      ['  module: ./methods/plain.js\n  name: plain', /bad\.yaml: method\.module: .*plain\.js: expected a default export made by defineMethod/],
      ['  module: ./methods/fedprox.js\n  name: fedproxy', /bad\.yaml: method\.name: expected one of .*fedprox/],
      ['  name: fedpetuning\n  mu: 1', /bad\.yaml: method\.mu: unknown field "mu"/],
    ];
    for (const [method, message] of cases) {
      const file = scenario('bad', method);
      const r = await cli(['run', file, '--results', join(project, 'bad-results')], project);
      expect(r.code, r.stderr).toBe(2);
      expect(r.stderr.trim().split('\n'), r.stderr).toHaveLength(1);
      expect(r.stderr.trim()).toMatch(message);
    }
    expect(existsSync(join(project, 'bad-results'))).toBe(false);
  });

  it("fedpft schema includes a module's methods and their options", async () => {
    const r = await cli(['schema', '--method-module', join(project, 'methods/fedprox.js'), '--method-module', join(project, 'methods/fedavgm.js')], project);
    expect(r.code, r.stderr).toBe(0);
    const text = r.stdout;
    const schema = JSON.parse(text) as { properties: { method: { oneOf: Array<{ properties: Record<string, { const?: string; default?: unknown }> }> } } };
    const byName = new Map(schema.properties.method.oneOf.map((m) => [m.properties['name']?.const, m.properties]));
    expect(byName.get('fedprox')?.['mu']?.default).toBe(0.01);
    expect(byName.get('fedavgm')?.['beta']?.default).toBe(0.9);
    expect(byName.get('fedprox')?.['module']).toBeDefined();
    expect(byName.get('fedpft')?.['module']).toBeUndefined();
  });

  it('npm pack ships the entry point with its type declarations', async () => {
    const { execFileSync } = await import('node:child_process');
    const packed = JSON.parse(execFileSync('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], { cwd: REPO, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] })) as Array<{ files: Array<{ path: string }> }>;
    const files = (packed[0]?.files ?? []).map((f) => f.path);
    for (const path of ['dist/index.js', 'dist/index.d.ts', 'dist/cli.js', 'dist/src/methods/define.d.ts', 'dist/actors/client-actor.js', 'docs/examples/fedprox.js']) expect(files).toContain(path);
    expect(files.some((f) => f.startsWith('dist/test/'))).toBe(false);
  });
});
