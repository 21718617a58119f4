import type { ClientHost } from '../../actors/client-host.js';
import { openClientHost } from '../../actors/open-host.js';
import type { TrainTask } from '../client/local-train.js';
import { loadTask } from '../data/registry.js';
import { createMethod } from '../methods/registry.js';
import type { ClientModelSpec } from '../methods/method.js';
import { disposeParams } from '../model/params.js';
import { loadModel } from '../model/encoder.js';
import { initBackend, type BackendChoice } from '../tensor/backend.js';
import { benchScenario, FEDPETUNING, load1, median } from './common.js';

export interface PoolBenchOptions {
  modelDir: string;
  backend: BackendChoice;
  /** Client updates per timed batch. */
  tasks: number;
  /** Training examples per client update (disjoint slices of the MNIST train split). */
  examplesPerTask: number;
  batchSize: number;
  /** Timed batches per worker count, alternating 1, 2, 1, 2, ... */
  repeats: number;
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
   * took CPU from them and the ratio is disturbed.
   */
  coresUsed: number;
}

export interface PoolBench {
  definition: string;
  backend: string;
  tasks: number;
  examplesPerTask: number;
  batchSize: number;
  stepsPerTask: number;
  repeats: number;
  one: PoolRun;
  two: PoolRun;
  /** two.updatesPerSecond / one.updatesPerSecond. */
  ratio: number;
  loadBefore: number;
  loadAfter: number;
}

export const POOL_DEFINITION =
  'the same fixed set of client updates (FedPETuning LoRA r=8 on the shipped FM, 1 local epoch) sent through an ActorPool of the client actor that runs use; ' +
  'updates/s = updates / wall time from dispatching the first to receiving the last; pools are started and every actor warmed up (one update each) before timing';

/**
 * Client updates per second through ActorPool + the client actor with 1 and with 2 workers.
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
  const task = (i: number): TrainTask => ({
    round: 1,
    clientId: i,
    seed: scenario.seed,
    lr: scenario.federation.learningRate,
    weightDecay: scenario.federation.weightDecay,
    epochs: 1,
    batchSize: opts.batchSize,
    maxGradNorm: scenario.federation.maxGradNorm,
    weights: initial.slice(),
    indices: Int32Array.from({ length: opts.examplesPerTask }, (_, k) => i * opts.examplesPerTask + k),
  });

  const open = async (workers: number) => {
    const host = await openClientHost({ ...scenario, runtime: { ...scenario.runtime, workers } }, data.train);
    await host.loadModel(spec);
    // Warm-up: one update per actor (first-call kernel setup is not throughput).
    await Promise.all(Array.from({ length: workers }, (_, i) => host.train(() => task(i), 0)));
    return host;
  };
  const batch = async (host: ClientHost) => {
    const cpu0 = process.cpuUsage();
    const t0 = performance.now();
    const results = await Promise.all(Array.from({ length: opts.tasks }, (_, i) => host.train(() => task(i), 0)));
    const seconds = (performance.now() - t0) / 1000;
    const cpu = process.cpuUsage(cpu0);
    return { ups: opts.tasks / seconds, msPerUpdate: results.reduce((s, r) => s + r.trainMs, 0) / results.length, cores: (cpu.user + cpu.system) / 1e6 / seconds };
  };

  const pools = [await open(1), await open(2)];
  const samples: Array<Array<{ ups: number; msPerUpdate: number; cores: number }>> = [[], []];
  try {
    for (let r = 0; r < opts.repeats; r++) {
      for (const w of [0, 1]) samples[w]?.push(await batch(pools[w] as ClientHost));
    }
  } finally {
    await Promise.all(pools.map((p) => p.close()));
  }
  const summarize = (workers: number, xs: Array<{ ups: number; msPerUpdate: number; cores: number }>): PoolRun => ({
    workers,
    updatesPerSecond: median(xs.map((x) => x.ups)),
    samples: xs.map((x) => x.ups),
    msPerUpdate: median(xs.map((x) => x.msPerUpdate)),
    coresUsed: median(xs.map((x) => x.cores)),
  });
  const one = summarize(1, samples[0] as []);
  const two = summarize(2, samples[1] as []);
  return {
    definition: POOL_DEFINITION,
    backend: backend.name,
    tasks: opts.tasks,
    examplesPerTask: opts.examplesPerTask,
    batchSize: opts.batchSize,
    stepsPerTask: Math.ceil(opts.examplesPerTask / opts.batchSize),
    repeats: opts.repeats,
    one,
    two,
    ratio: two.updatesPerSecond / one.updatesPerSecond,
    loadBefore,
    loadAfter: load1(),
  };
}
