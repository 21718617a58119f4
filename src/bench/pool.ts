import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ClientHost } from '../run/client-host.js';
import { stopAfter } from '../run/recorder.js';
import { runScenario, type ClientHosts } from '../run/run-scenario.js';
import { projectRoot } from '../results/environment.js';
import { ACTOR_HOSTS, type ActorHostChoice } from '../scenario/actor-hosts.js';
import { loadScenario } from '../scenario/load.js';
import type { Scenario } from '../scenario/schema.js';
import { startBrokerFixture, type BrokerFixture } from './broker-fixture.js';
import type { TrainTask } from '../client/local-train.js';
import { loadTask } from '../data/registry.js';
import { createMethod } from '../methods/registry.js';
import { methodRef } from '../methods/user-module.js';
import type { ClientModelSpec } from '../methods/method.js';
import { disposeParams } from '../model/params.js';
import { loadModel } from '../model/encoder.js';
import { backendLabel, initBackend, type BackendChoice } from '../tensor/backend.js';
import { benchScenario, FEDPETUNING, load1, median } from './common.js';

export interface PoolBenchOptions {
  hosts: ClientHosts;
  modelDir: string;
  backend: BackendChoice;
  /** Client updates per timed batch. */
  tasks: number;
  /** Training examples per client update (disjoint slices of the MNIST train split). */
  examplesPerTask: number;
  batchSize: number;
  /** Timed batches per worker count, alternating 1, 2, 1, 2, ... */
  repeats: number;
  /** Rounds of the quickstart run on threads and on the broker, for the broker's share of round time. */
  overheadRounds: number;
}

export interface PoolRun {
  workers: number;
  /** Median over the repeats of tasks / (wall seconds of the batch). */
  updatesPerSecond: number;
  samples: number[];
  /** Median over the repeats of the mean local training time of one update (TrainResult.trainMs). */
  msPerUpdate: number;
  /**
   * Median over the repeats of this process's CPU time (all threads) / wall time during the
   * batch: about 1 and 2 when the workers had the cores to themselves; less means other jobs
   * took CPU from them and the ratio is disturbed. null for hosts whose actors are other processes.
   */
  coresUsed: number | null;
}

export interface HostThroughput {
  host: ActorHostChoice;
  one: PoolRun;
  two: PoolRun;
  ratio: number;
}

export interface BrokerOverhead {
  rounds: number;
  clientsPerRound: number;
  /** Median round wall time with 2 thread actors and with 2 broker workers (s). */
  threadsRoundSeconds: number;
  brokerRoundSeconds: number;
  /** 1 - threadsRoundSeconds / brokerRoundSeconds. */
  share: number;
}

export interface PoolBench {
  definition: string;
  backend: string;
  tasks: number;
  examplesPerTask: number;
  batchSize: number;
  stepsPerTask: number;
  repeats: number;
  /** Threads (the default host): 1 and 2 actors. */
  one: PoolRun;
  two: PoolRun;
  /** two.updatesPerSecond / one.updatesPerSecond, on threads. */
  ratio: number;
  /** Every host measured, threads first. */
  hosts: HostThroughput[];
  /** Hosts that could not be measured here, one line each. */
  skipped: string[];
  /** null when the broker was not measured. */
  brokerOverhead: BrokerOverhead | null;
  loadBefore: number;
  loadAfter: number;
}

export const POOL_DEFINITION =
  'the same fixed set of client updates (FedPETuning LoRA r=8 on the shipped FM, 1 local epoch) sent through each actor host that runs use (threads, processes, broker workers), with 1 and with 2 actors; ' +
  'updates/s = updates / wall time from dispatching the first to receiving the last; pools are started and every actor warmed up (one update each) before timing';

/**
 * Client updates per second through each actor host with 1 and with 2 actors.
 * Run directly on the pool rather than through runScenario so the number is the pool's
 * throughput alone: no round barrier (a round of 10 uneven clients leaves a worker idle at its
 * end), no evaluation, no checkpoints; those costs are what the overhead section measures.
 */
export async function benchPool(opts: PoolBenchOptions): Promise<PoolBench> {
  const loadBefore = load1();
  const backend = await initBackend(opts.backend);
  const scenario = benchScenario({
    name: 'bench-pool',
    modelDir: opts.modelDir,
    backend: opts.backend,
    workers: 2,
    dataset: 'mnist',
    trainLimit: opts.tasks * opts.examplesPerTask,
    partition: { family: 'iid' },
    clients: opts.tasks,
    clientsPerRound: opts.tasks,
    rounds: 1,
    evalEvery: 1,
    batchSize: opts.batchSize,
    method: FEDPETUNING,
  });
  const data = loadTask('mnist', { trainLimit: opts.tasks * opts.examplesPerTask });
  if (data.train.n < opts.tasks * opts.examplesPerTask) throw new Error(`pool bench: mnist has ${data.train.n} training examples, ${opts.tasks} x ${opts.examplesPerTask} needed`);
  const fm = loadModel(scenario.model.dir);
  const method = createMethod(scenario.method);
  let spec: ClientModelSpec;
  let initial: Float32Array;
  try {
    ({ clientModel: spec, initial } = await method.setup({ scenario, fm, data, log: () => {} }));
  } finally {
    disposeParams(fm.params);
    method.dispose();
  }
  // Every batch is a round of its own: a task is identified by (round, client), and the broker
  // answers a repeated identity with the first answer.
  const task = (i: number, round: number): TrainTask => ({
    round,
    clientId: i,
    seed: scenario.seed,
    lr: scenario.federation.learningRate,
    weightDecay: scenario.federation.weightDecay,
    epochs: 1,
    batchSize: opts.batchSize,
    maxGradNorm: scenario.federation.maxGradNorm,
    method: methodRef(scenario.method),
    weights: initial.slice(),
    indices: Int32Array.from({ length: opts.examplesPerTask }, (_, k) => i * opts.examplesPerTask + k),
  });

  const scenarioOn = (host: ActorHostChoice, workers: number, queue = ''): Scenario => ({
    ...scenario,
    runtime: { ...scenario.runtime, workers, actors: host, ...(host === 'broker' ? { broker: { url: broker?.url ?? '', queue, waitSeconds: 60 } } : {}) },
  });
  const open = async (host: ActorHostChoice, workers: number) => {
    const client = await opts.hosts.open(scenarioOn(host, workers, `bench-${workers}`), data.train);
    await client.loadModel(spec);
    // Warm-up: one update per actor (first-call kernel setup is not throughput).
    await Promise.all(Array.from({ length: workers }, (_, i) => client.train(() => task(i, 1), 0)));
    return client;
  };
  const batch = async (client: ClientHost, round: number) => {
    const cpu0 = process.cpuUsage();
    const t0 = performance.now();
    const results = await Promise.all(Array.from({ length: opts.tasks }, (_, i) => client.train(() => task(i, round), 0)));
    const seconds = (performance.now() - t0) / 1000;
    const cpu = process.cpuUsage(cpu0);
    return { ups: opts.tasks / seconds, msPerUpdate: results.reduce((s, r) => s + r.trainMs, 0) / results.length, cores: (cpu.user + cpu.system) / 1e6 / seconds };
  };
  type Sample = Awaited<ReturnType<typeof batch>>;
  const summarize = (host: ActorHostChoice, workers: number, xs: Sample[]): PoolRun => ({
    workers,
    updatesPerSecond: median(xs.map((x) => x.ups)),
    samples: xs.map((x) => x.ups),
    msPerUpdate: median(xs.map((x) => x.msPerUpdate)),
    // Only threads compute inside this process; other hosts' CPU time is not visible here.
    coresUsed: host === 'threads' ? median(xs.map((x) => x.cores)) : null,
  });

  const skipped: string[] = [];
  let broker: BrokerFixture | undefined;
  try {
    broker = await startBrokerFixture();
    await broker.workers('bench-1', 1);
    await broker.workers('bench-2', 2);
  } catch (err) {
    await broker?.close();
    broker = undefined;
    skipped.push(`broker: not measured (${(err as Error).message.split('\n')[0]})`);
  }
  const hosts: HostThroughput[] = [];
  let brokerOverhead: BrokerOverhead | null = null;
  try {
    for (const host of ACTOR_HOSTS) {
      if (host === 'broker' && !broker) continue;
      const clients = [await open(host, 1), await open(host, 2)];
      const samples: Sample[][] = [[], []];
      try {
        for (let r = 0; r < opts.repeats; r++) {
          for (const w of [0, 1]) samples[w]?.push(await batch(clients[w] as ClientHost, r + 2));
        }
      } finally {
        await Promise.all(clients.map((c) => c.close()));
      }
      const one = summarize(host, 1, samples[0] as Sample[]);
      const two = summarize(host, 2, samples[1] as Sample[]);
      hosts.push({ host, one, two, ratio: two.updatesPerSecond / one.updatesPerSecond });
    }
    if (broker) brokerOverhead = await measureBrokerOverhead(opts, (host) => scenarioOn(host, 2, 'bench-2'));
  } finally {
    await broker?.close();
  }
  const threads = hosts[0] as HostThroughput;
  return {
    definition: POOL_DEFINITION,
    backend: backendLabel(backend),
    tasks: opts.tasks,
    examplesPerTask: opts.examplesPerTask,
    batchSize: opts.batchSize,
    stepsPerTask: Math.ceil(opts.examplesPerTask / opts.batchSize),
    repeats: opts.repeats,
    one: threads.one,
    two: threads.two,
    ratio: threads.ratio,
    hosts,
    skipped,
    brokerOverhead,
    loadBefore,
    loadAfter: load1(),
  };
}

/**
 * The broker's share of round wall time: the quickstart's federation (10 clients a round) run
 * for a few rounds on 2 threads and on 2 broker workers; share = 1 - threads' median round time
 * over the broker's. Both runs compute the same bits, so the difference is the broker's cost.
 */
async function measureBrokerOverhead(opts: PoolBenchOptions, on: (host: ActorHostChoice) => Scenario): Promise<BrokerOverhead> {
  const quickstart = await loadScenario(join(projectRoot() ?? '.', 'scenarios/quickstart.yaml'));
  const rounds = opts.overheadRounds;
  const medianRound = async (host: ActorHostChoice): Promise<number> => {
    const root = mkdtempSync(join(tmpdir(), 'fedpft-bench-broker-'));
    const walls: number[] = [];
    try {
      const base = on(host);
      const scenario: Scenario = { ...quickstart, name: 'bench-broker', model: { ...quickstart.model, dir: opts.modelDir }, runtime: { ...base.runtime, backend: opts.backend } };
      await runScenario({ scenario, resultsRoot: root, runId: host, log: () => {}, hosts: opts.hosts, observers: [stopAfter(rounds), { onRound: (_, t) => void walls.push(t.wallSeconds) }] });
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
    return median(walls);
  };
  const threadsRoundSeconds = await medianRound('threads');
  const brokerRoundSeconds = await medianRound('broker');
  return { rounds, clientsPerRound: quickstart.federation.clientsPerRound, threadsRoundSeconds, brokerRoundSeconds, share: 1 - threadsRoundSeconds / brokerRoundSeconds };
}
