import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { Queue, QueueEvents } from 'bullmq';
import { Redis } from 'ioredis';
import type { TrainResult, TrainTask } from '../src/client/local-train.js';
import type { FrozenPatch } from '../src/client/frozen-patch.js';
import { examplesHash, type LabelledExamples } from '../src/data/dataset.js';
import type { ClientModelSpec } from '../src/methods/method.js';
import { ownVersion } from '../src/results/environment.js';
import type { BrokerConfig, Scenario } from '../src/scenario/schema.js';
import { trainingSource } from '../src/scenario/task-data.js';
import { RunStoppedError, UserError } from '../src/util/errors.js';
import { parseRedisUrl } from '../src/util/redis-url.js';
import { choiceOf } from '../src/tensor/backend-choices.js';
import { backendLabel, type BackendInfo } from '../src/tensor/backend.js';
import { BlobStore, jobId, redisOptions, REFUSED, type BrokerJob, type BrokerReturn } from './broker-protocol.js';
import { checkActorBackend, trainWithRetries, type ClientHost, type DispatchEvents } from '../src/run/client-host.js';

/** How long Redis keeps a run's blobs: long enough for any round, short enough not to pile up. */
const BLOB_TTL_SECONDS = 24 * 3600;
/** How often a waiting server checks that workers are there and that its jobs still exist. */
const WATCH_MS = 1000;
/** A Redis call slower than this counts as Redis being away (ioredis queues calls while it reconnects). */
const CALL_TIMEOUT_MS = 3000;
/** The same for calls that move a client model or a task: blobs of megabytes, possibly over a network. */
const DATA_TIMEOUT_MS = 60_000;

/** One-line check that a Redis server answers at `url`, without retrying: exit 2 when it does not. */
export async function checkBroker(url: string, what: string): Promise<void> {
  const address = parseRedisUrl(url);
  if (!address) throw new UserError(what, '', `${url}: not a Redis URL like redis://127.0.0.1:6379`);
  const probe = new Redis({ ...redisOptions(address), lazyConnect: true, retryStrategy: () => null, maxRetriesPerRequest: 0, connectTimeout: 5000 });
  probe.on('error', () => undefined);
  try {
    await probe.connect();
    await probe.ping();
  } catch (err) {
    throw new UserError(what, '', `no Redis server answers at ${url} (${(err as Error).message.split('\n')[0]})`);
  } finally {
    probe.disconnect();
  }
}

async function withTimeout<T>(p: Promise<T>, ms: number): Promise<T | 'timeout'> {
  // The timer is cancelled once p settles, and never keeps the process alive on its own.
  const timer = new AbortController();
  try {
    return await Promise.race([p, sleep(ms, 'timeout' as const, { signal: timer.signal, ref: false })]);
  } finally {
    timer.abort();
  }
}

/**
 * Client tasks as BullMQ jobs on a Redis server, served by `fedpft worker` processes anywhere.
 * The client model travels once per run as content-addressed blobs; a job carries only the
 * task. Results are read by job id (run session, round, client, attempt), so a late or
 * duplicated result is never aggregated twice.
 */
export class BrokerHost implements ClientHost {
  readonly kind = 'broker' as const;
  /** Per-slot busy time is not observable across machines: every task counts on slot 0. */
  readonly size = 1;
  /** One run's session: renewed by loadModel, so runs sharing this host never share a job id. */
  #run = randomUUID();
  readonly #version = ownVersion();
  #model: string[] = [];
  #maxTensors = 0;
  #closed = false;
  /** Since when no worker has served the queue; undefined while one does. */
  #missingSince: number | undefined;

  private constructor(
    readonly key: string,
    readonly backend: string,
    private readonly config: BrokerConfig,
    private readonly job: Pick<BrokerJob, 'backend' | 'kernels' | 'data'>,
    private readonly redis: Redis,
    private readonly blobs: BlobStore,
    private readonly queue: Queue,
    private readonly events: QueueEvents,
  ) {}

  /** Connects to the scenario's broker and waits (runtime.broker.waitSeconds) for a worker to serve its queue. */
  static async open(key: string, scenario: Scenario, train: LabelledExamples, info: BackendInfo): Promise<BrokerHost> {
    const config = scenario.runtime.broker as BrokerConfig;
    await checkBroker(config.url, 'runtime.broker.url');
    const connection = redisOptions(parseRedisUrl(config.url) as NonNullable<ReturnType<typeof parseRedisUrl>>);
    const redis = new Redis(connection);
    redis.on('error', () => undefined);
    const queue = new Queue(config.queue, { connection });
    queue.on('error', () => undefined);
    const events = new QueueEvents(config.queue, { connection });
    events.on('error', () => undefined);
    const host = new BrokerHost(key, backendLabel(info), config, { backend: choiceOf(info.name), kernels: info.kernels, data: { source: trainingSource(scenario), sha256: examplesHash(train) } }, redis, new BlobStore(redis, `fedpft:${config.queue}`), queue, events);
    try {
      await events.waitUntilReady();
      await host.#waitForWorkers();
    } catch (err) {
      await host.close();
      throw err;
    }
    return host;
  }

  async loadModel(spec: ClientModelSpec): Promise<void> {
    this.#run = randomUUID();
    this.#model = [await this.#answered(this.blobs.put(spec, BLOB_TTL_SECONDS), 'publishing the client model')];
  }

  async updateFrozen(patches: FrozenPatch[]): Promise<void> {
    this.#model = [...this.#model, await this.#answered(this.blobs.put(patches, BLOB_TTL_SECONDS), 'publishing a frozen-model patch')];
  }

  train(makeTask: () => TrainTask, maxRetries: number, events: DispatchEvents = {}): Promise<TrainResult> {
    return trainWithRetries(makeTask, maxRetries, events, async (task, attempt) => ({ result: await this.#runJob(task, attempt), slot: 0 }));
  }

  async numTensors(): Promise<number> {
    const n = this.#maxTensors;
    this.#maxTensors = 0;
    return n;
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await Promise.allSettled([this.events.close(), this.queue.close()]);
    this.redis.disconnect();
  }

  get #where(): string {
    return `queue "${this.config.queue}" on ${this.config.url}`;
  }

  async #workersNow(): Promise<number> {
    const n = await withTimeout(this.queue.getWorkersCount(), CALL_TIMEOUT_MS).catch(() => 0);
    return n === 'timeout' ? 0 : n;
  }

  /**
   * A Redis call that must answer: ioredis queues calls while Redis is away, so one that hangs
   * stops the run at its last checkpoint instead of waiting forever.
   */
  async #answered<T>(call: Promise<T>, what: string): Promise<T> {
    const r = await withTimeout(call, DATA_TIMEOUT_MS);
    if (r === 'timeout') throw new RunStoppedError(`${this.#where}: Redis did not answer within ${DATA_TIMEOUT_MS / 1000} s while ${what}; the run stops at its last checkpoint (fedpft run --resume continues it)`);
    return r;
  }

  /** Resolves once a worker serves the queue; a RunStoppedError when none has for waitSeconds. */
  async #waitForWorkers(): Promise<void> {
    for (;;) {
      if ((await this.#workersNow()) > 0) {
        this.#missingSince = undefined;
        return;
      }
      this.#missingSince ??= Date.now();
      if (Date.now() - this.#missingSince > this.config.waitSeconds * 1000) {
        throw new RunStoppedError(`no worker has served ${this.#where} for ${this.config.waitSeconds} s (runtime.broker.waitSeconds); start one with: fedpft worker --broker ${this.config.url} --queue ${this.config.queue}`);
      }
      await sleep(WATCH_MS);
    }
  }

  async #runJob(task: TrainTask, attempt: number): Promise<TrainResult> {
    // The run session goes into the blob, so two servers with the same task never share (and delete) one.
    const taskHash = await this.#answered(this.blobs.put({ run: this.#run, task }, BLOB_TTL_SECONDS), 'publishing a task');
    const data: BrokerJob = { version: this.#version, run: this.#run, round: task.round, clientId: task.clientId, attempt, ...this.job, model: this.#model, task: taskHash };
    const id = jobId(data);
    try {
      const job = await this.#answered(this.queue.add('train', data, { jobId: id, attempts: 1, removeOnComplete: { age: 3600 }, removeOnFail: { age: 3600 } }), 'queueing a task');
      const finished = job.waitUntilFinished(this.events) as Promise<BrokerReturn>;
      let done: BrokerReturn | undefined;
      let failure: unknown;
      finished.then(
        (r) => (done = r),
        (err: unknown) => (failure = err ?? new Error('job failed')),
      );
      // Waits for the result while watching that workers serve the queue and that Redis still holds the job.
      while (done === undefined && failure === undefined) {
        await Promise.race([finished.catch(() => undefined), sleep(WATCH_MS)]);
        if (done !== undefined || failure !== undefined) break;
        await this.#waitForWorkers();
        const state = await withTimeout(this.queue.getJobState(id), CALL_TIMEOUT_MS).catch(() => 'timeout' as const);
        if (state === 'unknown') throw new RunStoppedError(`${this.#where} lost job ${id} (did Redis restart without its data?); the run stops at its last checkpoint: resume it with fedpft run --resume`);
        // The completion event can be missed across a reconnect: read the job itself.
        if (state === 'completed' || state === 'failed') {
          const latest = await this.#answered(this.queue.getJob(id), 'reading a finished task');
          if (state === 'completed' && latest) done = latest.returnvalue as BrokerReturn;
          else failure = new Error(latest?.failedReason ?? 'job failed');
        }
      }
      if (failure !== undefined) {
        const message = failure instanceof Error ? failure.message : String(failure);
        if (message.startsWith(REFUSED)) throw new RunStoppedError(`${this.#where}: a worker refused round ${task.round}, client ${task.clientId}: ${message.slice(REFUSED.length)}; the run stops at its last checkpoint (fedpft run --resume continues it)`);
        throw new Error(message);
      }
      const ret = done as BrokerReturn;
      checkActorBackend(this.backend, `worker ${ret.worker}`, ret.backend);
      this.#maxTensors = Math.max(this.#maxTensors, ret.tensors);
      const { result } = await this.#answered(this.blobs.get<{ result: TrainResult }>(ret.result, 'the result of job'), 'reading a result');
      await this.#answered(this.blobs.delete(ret.result), 'deleting a read result');
      return result;
    } finally {
      await withTimeout(this.blobs.delete(taskHash), CALL_TIMEOUT_MS).catch(() => undefined);
    }
  }
}
