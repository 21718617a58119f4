/**
 * What the server and `fedpft worker` processes share through Redis, besides BullMQ's own queue:
 * content-addressed blobs (the client model, its frozen patches, each task's and each result's
 * payload) and the small JSON job that names them. Payloads are V8-serialized (structured clone),
 * so typed arrays travel as their bytes, never as JSON numbers.
 */
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { deserialize, serialize } from 'node:v8';
import { Redis, type RedisOptions } from 'ioredis';
import type { TrainingSource } from '../src/scenario/task-data.js';
import type { BackendChoice, KernelSet } from '../src/tensor/backend-choices.js';
import type { RedisAddress } from '../src/util/redis-url.js';

/** A client task as a job: everything but the payload is small and human-readable. */
export interface BrokerJob {
  /** fedpft's version on the server; a worker of another version refuses the job. */
  version: string;
  /** One server session of one run: job ids of a resumed run never meet the old ones. */
  run: string;
  round: number;
  clientId: number;
  attempt: number;
  backend: BackendChoice;
  kernels: KernelSet;
  /** The client model: the sha256 of its spec, then of every frozen patch in the order applied. */
  model: string[];
  data: { source: TrainingSource; sha256: string };
  /** sha256 of the task's blob (a TrainTask: hyper-parameters, trainable weights, data indices). */
  task: string;
}

/** What a job returns: the result's blob and who computed it. */
export interface BrokerReturn {
  /** sha256 of the result's blob (a TrainResult). */
  result: string;
  backend: string;
  worker: string;
  /** Live tensors in the actor after the task (leak watch). */
  tensors: number;
}

/** A job that the worker refuses rather than fails: retrying it anywhere like it would not help. */
export const REFUSED = 'refused: ';

export function jobId(job: Pick<BrokerJob, 'run' | 'round' | 'clientId' | 'attempt'>): string {
  // BullMQ ids may not contain ':'.
  return `${job.run}_r${job.round}_c${job.clientId}_a${job.attempt}`;
}

/** ioredis options for a parsed URL; BullMQ's blocking connections need maxRetriesPerRequest null. */
export function redisOptions(address: RedisAddress): RedisOptions {
  return {
    host: address.host,
    port: address.port,
    db: address.db,
    ...(address.username ? { username: address.username } : {}),
    ...(address.password ? { password: address.password } : {}),
    ...(address.tls ? { tls: {} } : {}),
    maxRetriesPerRequest: null,
  };
}

export function sha256(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

/**
 * Blobs in Redis under `<prefix>:blob:<sha256>`, checked against their hash when read, and kept
 * on disk (when given a cache directory) so a worker fetches each client model once.
 */
export class BlobStore {
  constructor(
    readonly redis: Redis,
    readonly prefix: string,
    readonly cacheDir?: string,
  ) {}

  #key(hash: string): string {
    return `${this.prefix}:blob:${hash}`;
  }

  /** Stores a value; returns its address. `ttlSeconds` bounds how long Redis keeps it. */
  async put(value: unknown, ttlSeconds: number): Promise<string> {
    const bytes = serialize(value);
    const hash = sha256(bytes);
    await this.redis.set(this.#key(hash), bytes, 'EX', ttlSeconds);
    return hash;
  }

  /** The value at an address; `what` names it in errors. `keep`: also keep it in the disk cache. */
  async get<T>(hash: string, what: string, keep = false): Promise<T> {
    const cached = keep && this.cacheDir ? join(this.cacheDir, hash) : undefined;
    if (cached && existsSync(cached)) {
      const bytes = readFileSync(cached);
      if (sha256(bytes) === hash) return deserialize(bytes) as T;
    }
    const bytes = await this.redis.getBuffer(this.#key(hash));
    if (!bytes) throw new Error(`${REFUSED}${what} ${hash.slice(0, 12)} is not on the broker (expired, or Redis lost it)`);
    if (sha256(bytes) !== hash) throw new Error(`${REFUSED}${what} ${hash.slice(0, 12)} on the broker does not hash to its address`);
    if (cached && this.cacheDir) {
      mkdirSync(this.cacheDir, { recursive: true });
      // Written whole then renamed, so a worker killed mid-write never leaves a torn blob.
      // Workers on one machine share the cache: each writes a file of its own.
      const partial = `${cached}.${process.pid}.${randomBytes(4).toString('hex')}.partial`;
      writeFileSync(partial, bytes);
      renameSync(partial, cached);
    }
    return deserialize(bytes) as T;
  }

  async delete(hash: string): Promise<void> {
    await this.redis.del(this.#key(hash));
  }
}
