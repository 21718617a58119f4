/**
 * `fedpft worker`: serves client tasks from a BullMQ queue with a pool of client actors (the same
 * actors a run on this machine uses), on any machine that reaches the Redis server. It loads the
 * training data itself, checked against the server's hash, and keeps each client model it has
 * fetched in a disk cache.
 */
import type { WorkerOptions } from '../src/commands/context.js';
import { hostname } from 'node:os';
import { UnrecoverableError, Worker, type Job } from 'bullmq';
import { Redis } from 'ioredis';
import type { TrainTask } from '../src/client/local-train.js';
import type { FrozenPatch } from '../src/client/frozen-patch.js';
import type { ClientModelSpec } from '../src/methods/method.js';
import type { LabelledExamples } from '../src/data/dataset.js';
import { ownVersion } from '../src/results/environment.js';
import { describeSource, loadCheckedTrainingSet } from '../src/scenario/task-data.js';
import { backendLabel } from '../src/tensor/backend.js';
import { pinOpenBlasEnvironment } from '../src/tensor/blas.js';
import { parseRedisUrl } from '../src/util/redis-url.js';
import { checkBroker } from './broker-host.js';
import { BlobStore, redisOptions, REFUSED, type BrokerJob, type BrokerReturn } from './broker-protocol.js';
import type { ClientActor, ClientActorInit } from './client-actor.js';
import { actorData, CLIENT_ACTOR, effectiveHost } from './open-host.js';
import { ActorPool } from './pool.js';

export type BrokerWorkerOptions = WorkerOptions;

/** Actors holding one training set on one backend, and what client model each slot holds. */
interface Actors {
  key: string;
  pool: ActorPool<ClientActor>;
  /** Per slot, the client model it holds: spec hash, then the patches applied. */
  models: string[][];
}

const refuse = (why: string) => new UnrecoverableError(`${REFUSED}${why}`);

export class BrokerWorker {
  readonly name = `${hostname()}:${process.pid}`;
  readonly #version = ownVersion();
  readonly #blobs: BlobStore;
  #actors: Actors | undefined;
  /** Serializes switching the actors to another training set while tasks hold them. */
  #switching: Promise<Actors> | undefined;
  #worker: Worker<BrokerJob, BrokerReturn> | undefined;

  private constructor(
    private readonly opts: BrokerWorkerOptions,
    private readonly redis: Redis,
  ) {
    this.#blobs = new BlobStore(redis, `fedpft:${opts.queue}`, opts.cacheDir);
  }

  /** Connects (a one-line error, exit 2, when no Redis answers) and serves until close(). */
  static async start(opts: BrokerWorkerOptions): Promise<BrokerWorker> {
    await checkBroker(opts.url, '--broker');
    const connection = redisOptions(parseRedisUrl(opts.url) as NonNullable<ReturnType<typeof parseRedisUrl>>);
    const redis = new Redis(connection);
    redis.on('error', () => undefined);
    const self = new BrokerWorker(opts, redis);
    const lockDuration = opts.lockMs ?? 10_000;
    self.#worker = new Worker<BrokerJob, BrokerReturn>(opts.queue, (job) => self.#serve(job), {
      connection,
      concurrency: opts.concurrency,
      name: self.name,
      lockDuration,
      stalledInterval: Math.max(1000, lockDuration / 2),
      // A job whose worker died is handed on, not failed: killing workers must not change results.
      maxStalledCount: 100,
    });
    self.#worker.on('error', (err) => opts.log(`worker ${self.name}: ${err.message.split('\n')[0]}`));
    self.#worker.on('failed', (job, err) => opts.log(`job ${job?.id ?? '?'} failed: ${err.message.split('\n')[0]}`));
    await self.#worker.waitUntilReady();
    opts.log(`worker ${self.name} serves queue "${opts.queue}" on ${opts.url} with ${opts.concurrency} actor${opts.concurrency === 1 ? '' : 's'} (fedpft ${self.#version}, cache ${opts.cacheDir})`);
    return self;
  }

  async close(): Promise<void> {
    await this.#worker?.close();
    await this.#actors?.pool.close();
    this.redis.disconnect();
  }

  async #serve(job: Job<BrokerJob, BrokerReturn>): Promise<BrokerReturn> {
    const d = job.data;
    if (d.version !== this.#version) throw refuse(`worker ${this.name} runs fedpft ${this.#version}, the server ${d.version}`);
    const actors = await this.#actorsFor(d);
    const { task } = await this.#blobs.get<{ task: TrainTask }>(d.task, 'task');
    // A job handed on after its worker died was begun once already: its injected fault has happened.
    if (job.stalledCounter > 0) {
      this.opts.log(`job ${job.id ?? '?'}: handed on from a worker that stopped (stalled ${job.stalledCounter} time${job.stalledCounter === 1 ? '' : 's'})`);
      if (task.inject !== 'nan') delete task.inject;
    }
    const { result, backend, tensors } = await actors.pool.run(async (actor, slot) => {
      await this.#install(actors, actor, slot, d.model);
      const trained = await actor.train(task);
      return { result: trained, backend: backendLabel(await actor.backend()), tensors: await actor.numTensors() };
    });
    // The job id goes into the blob: two jobs never share (and delete) one result.
    const hash = await this.#blobs.put({ job: job.id, result }, 24 * 3600);
    this.opts.log(`job ${job.id ?? '?'}: done in ${(result.trainMs / 1000).toFixed(2)} s`);
    return { result: hash, backend, worker: this.name, tensors };
  }

  /** The actors for a job's training set and backend, (re)built when they differ from the current ones. */
  async #actorsFor(d: BrokerJob): Promise<Actors> {
    const key = JSON.stringify([d.backend, d.kernels, d.data.sha256]);
    for (;;) {
      if (this.#switching) await this.#switching.catch(() => undefined);
      if (this.#actors?.key === key) return this.#actors;
      if (this.#switching) continue;
      this.#switching = this.#build(key, d);
      try {
        return await this.#switching;
      } finally {
        this.#switching = undefined;
      }
    }
  }

  async #build(key: string, d: BrokerJob): Promise<Actors> {
    await this.#actors?.pool.close();
    this.#actors = undefined;
    let train: LabelledExamples;
    try {
      train = loadCheckedTrainingSet(d.data.source, d.data.sha256);
    } catch (err) {
      throw refuse(`worker ${this.name}: ${(err as Error).message.split('\n')[0]}`);
    }
    // The server sends the backend it resolved, so the choice names it: no backend loads here,
    // and this thread never holds a kernel set another run would have to switch.
    const host = effectiveHost('threads', d.backend) as 'threads' | 'processes';
    const workerData: ClientActorInit = { backend: d.backend, kernels: d.kernels, data: actorData(host, d.data.source, train) };
    let pool: ActorPool<ClientActor>;
    try {
      // Here, on the main thread, before any actor thread loads OpenBLAS.
      if (d.kernels === 'fast') pinOpenBlasEnvironment();
      pool = await ActorPool.open<ClientActor>({ workers: this.opts.concurrency, host, workerFile: CLIENT_ACTOR, workerData });
    } catch (err) {
      throw refuse(`worker ${this.name} cannot start its actors on ${d.backend} (${d.kernels} kernels): ${(err as Error).message.split('\n')[0]}`);
    }
    const actors: Actors = { key, pool, models: Array.from({ length: pool.size }, () => []) };
    // A replaced actor starts empty; the next task installs its model.
    pool.onRespawn = async (_actor, slot) => {
      actors.models[slot] = [];
    };
    this.opts.log(`actors ready for ${describeSource(d.data.source)} on ${d.backend}`);
    this.#actors = actors;
    return actors;
  }

  /** Brings the slot's actor to the job's client model: only the missing patches when it holds an earlier state of it. */
  async #install(actors: Actors, actor: { loadModel(spec: ClientModelSpec): Promise<void>; updateFrozen(p: FrozenPatch[]): Promise<void> }, slot: number, model: string[]): Promise<void> {
    const held = actors.models[slot] as string[];
    const extends_ = held.length > 0 && held.length <= model.length && held.every((h, i) => h === model[i]);
    let from = held.length;
    if (!extends_) {
      // Until the new model is whole, the slot holds nothing a later job could extend.
      actors.models[slot] = [];
      await actor.loadModel(await this.#blobs.get<ClientModelSpec>(model[0] as string, 'client model', true));
      from = 1;
    }
    for (const patch of model.slice(from)) await actor.updateFrozen(await this.#blobs.get<FrozenPatch[]>(patch, 'frozen-model patch', true));
    actors.models[slot] = [...model];
  }
}
