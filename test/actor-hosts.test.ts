/**
 * Where client actors run changes nothing in the results: the same scenarios through the CLI on
 * worker threads and on child processes, with 1 and 2 actors, with injected faults and after a
 * resume, give the same bits; an actor on another backend than the server's stops the run.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { golden, outcome } from './helpers/kit.js';
import { makeTinyFm4, METHOD_YAML, tinyMethodScenario } from './helpers/tiny-fm4.js';
import { cli, makeTinyFm, REPO, tempDir, tinyScenario, writeScenario } from './helpers/tiny-run.js';

const GOLDEN = golden();

describe('actor hosts (runtime.actors) through the CLI', () => {
  let work: string;
  let fm: string;
  let fm4: string;
  const results = () => join(work, 'results');
  const runDir = (name: string, id: string) => join(results(), name, id);
  const json = (file: string) => JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
  const run = (file: string, id: string, workers: number, actors: string, extra: string[] = []) =>
    cli(['run', file, '--results', results(), '--run-id', id, '--workers', String(workers), '--actors', actors, ...extra]);

  beforeAll(async () => {
    work = tempDir('hosts');
    fm = join(work, 'fm');
    fm4 = join(work, 'fm4');
    await Promise.all([makeTinyFm(fm), makeTinyFm4(fm4)]);
  });

  it('processes with 1 and 2 actors give the golden metrics and weights that threads give', async () => {
    const file = writeScenario(work, tinyScenario(fm));
    for (const workers of [1, 2]) {
      const r = await run(file, `p${workers}`, workers, 'processes');
      expect(r.code, r.stderr).toBe(0);
      expect(outcome(runDir('tiny', `p${workers}`))).toEqual(GOLDEN);
      expect(json(join(runDir('tiny', `p${workers}`), 'environment.json'))['actors']).toBe('processes');
    }
  });

  it('a stopped run resumed on processes ends as the golden run', async () => {
    const file = writeScenario(work, tinyScenario(fm));
    expect((await run(file, 'p-resumed', 2, 'processes', ['--stop-after-round', '2'])).code).toBe(0);
    const second = await cli(['run', file, '--results', results(), '--resume', 'p-resumed', '--actors', 'processes']);
    expect(second.code, second.stderr).toBe(0);
    expect(outcome(runDir('tiny', 'p-resumed'))).toEqual(GOLDEN);
  });

  it('FedPFT realigning during FL: processes with task errors and killed actors equal threads without', async () => {
    const scenario = tinyMethodScenario(fm4, METHOD_YAML.fedpft()).replace('rounds: 4', 'rounds: 3');
    const clean = writeScenario(work, scenario, 'fedpft.yaml');
    const faulty = writeScenario(work, `${scenario}faults: { taskErrors: 0.2, workerCrashes: 0.4 }\n`, 'fedpft-faults.yaml');
    const a = await run(clean, 'threads', 2, 'threads');
    expect(a.code, a.stderr).toBe(0);
    const b = await run(faulty, 'processes', 2, 'processes');
    expect(b.code, b.stderr).toBe(0);
    expect(b.stdout).toMatch(/failed \(actor slot \d lost its process \(exit code 70\)\)/);
    expect(b.stdout).toMatch(/failed \(injected task error/);
    expect(outcome(runDir('tiny4', 'processes'))).toEqual(outcome(runDir('tiny4', 'threads')));
  });

  it.each(['threads', 'processes'])('an actor on another backend than the server stops the run (%s): one line, exit 1, nothing written', async (actors) => {
    const file = writeScenario(work, tinyScenario(fm).replace('name: tiny', 'name: mixed'), 'mixed.yaml');
    const r = await cli(['run', file, '--results', results(), '--workers', '2', '--actors', actors], REPO, { FEDPFT_ACTOR_BACKEND: 'cpu' });
    expect(r.code).toBe(1);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(/client actor 0 runs the cpu backend, the server wasm/);
    expect(existsSync(join(results(), 'mixed')) && readdirSync(join(results(), 'mixed')).length > 0).toBe(false);
  });
});

describe('an actor that loads the training set itself', () => {
  it('trains on the same bytes as the server, and refuses a set whose hash differs, naming its source', async () => {
    const { loadActorData } = await import('../actors/client-actor.js');
    const { parseScenario } = await import('../src/scenario/load.js');
    const { examplesHash } = await import('../src/data/dataset.js');
    const { loadScenarioTask, trainingSource } = await import('../src/scenario/task-data.js');
    const scenario = parseScenario(tinyScenario(join(REPO, 'models/vit-fmnist')), 'tiny.yaml', { checkFiles: false });
    const train = loadScenarioTask(scenario).train;
    const source = trainingSource(scenario);
    const loaded = loadActorData({ kind: 'source', source, sha256: examplesHash(train) });
    expect(loaded.features).toEqual(train.features);
    expect(loaded.labels).toEqual(train.labels);
    expect(() => loadActorData({ kind: 'source', source, sha256: '0'.repeat(64) })).toThrow(/^the shipped mnist dataset: the training set here \(sha256 [0-9a-f]{12}\) differs from the server's \(000000000000\)$/);
  });
});

describe('the host a backend needs', () => {
  it('moves thread actors to processes on the tensorflow backends only; an explicit host stays', async () => {
    const { effectiveHost } = await import('../actors/open-host.js');
    expect(effectiveHost('threads', 'tensorflow')).toBe('processes');
    expect(effectiveHost('threads', 'tensorflow-gpu')).toBe('processes');
    expect(effectiveHost('threads', 'wasm')).toBe('threads');
    expect(effectiveHost('threads', 'cpu')).toBe('threads');
    expect(effectiveHost('broker', 'tensorflow')).toBe('broker');
    expect(effectiveHost('processes', 'wasm')).toBe('processes');
  });
});
