import { fork } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { MessageChannel } from 'node:worker_threads';
import * as Comlink from 'comlink';
import { Piscina } from 'piscina';
import type { DeviceScheduler, Lease } from './device-scheduler.js';
import { ipcEndpoint } from './process-endpoint.js';
import type { ProcessHostInit } from './process-host.js';
import { ACTOR_READY, portEndpoint, type ServeTask } from './worker-host.js';

/** Where actors live: threads of this process (piscina), or one child process each. */
export type ActorHostKind = 'threads' | 'processes';

// Under vitest this module runs from source, where only the compiled entry exists.
const PROCESS_HOST = [new URL('./process-host.js', import.meta.url), new URL('../dist/actors/process-host.js', import.meta.url)]
  .map((u) => fileURLToPath(u))
  .find((f) => existsSync(f));

export interface PoolOptions {
  workers: number;
  /** Default threads. processes: workerData travels by structured clone, so no SharedArrayBuffers. */
  host?: ActorHostKind;
  /** A module whose default export is `hostActor(factory)`. */
  workerFile: string | URL;
  /** Handed to the actor factory in every thread (structured-cloned). */
  workerData?: unknown;
  /** Device kind each `run` holds a lease of; required when `scheduler` is given. */
  deviceKind?: string;
  scheduler?: DeviceScheduler;
}

/** One thread's actor as the main side sees it; replaced whole when its thread is lost. */
interface Incarnation<A> {
  readonly remote: Comlink.Remote<A>;
  /** Settles once the actor has exposed itself; rejects if it is lost first. */
  readonly ready: Promise<void>;
  lost: Error | undefined;
  /** Rejecters of the calls now running on this actor, failed together when it is lost. */
  readonly running: Set<(reason: Error) => void>;
  end(reason: Error): void;
}

interface Waiter {
  /** The one slot this waiter needs (broadcast), or any slot (run). */
  readonly slot: number | undefined;
  grant(slot: number): void;
  fail(reason: Error): void;
}

// Above 2^31 - 1 ms Node's timers overflow to 1 ms, which would reap threads at once.
const NEVER_IDLE_MS = 2 ** 31 - 1;

/**
 * A fixed set of long-lived actors, each in its own piscina thread and driven through comlink.
 * A simulated client is a call made on whichever actor is free, so memory depends on the pool
 * size, never on the number of clients.
 *
 * Buffers can be moved rather than copied with `Comlink.transfer(value, [buffer])`, imported
 * from 'comlink' itself: comlink remembers transfers per module instance, and this pool's
 * remotes come from that same module.
 */
export class ActorPool<A extends object> {
  readonly size: number;
  /**
   * Brings a replacement actor to the state its lost predecessor had (e.g. the resident model
   * with every update so far), before it serves the call that needed it.
   */
  onRespawn: ((actor: Comlink.Remote<A>, slot: number) => Promise<void>) | undefined;

  readonly #host: ActorHostKind;
  readonly #workerFile: string | URL;
  readonly #workerData: unknown;
  readonly #piscina: Piscina<ServeTask, void> | undefined;
  /** Takes this pool's device lease; absent when the pool has no scheduler. */
  readonly #lease: (() => Promise<Lease>) | undefined;
  readonly #actors: Incarnation<A>[];
  readonly #busy: boolean[];
  readonly #waiters: Waiter[] = [];
  #closing: Promise<void> | undefined;

  private constructor(opts: PoolOptions) {
    const { workers, workerFile, workerData, deviceKind, scheduler, host = 'threads' } = opts;
    if (!Number.isInteger(workers) || workers < 1) {
      throw new Error(`ActorPool: workers must be a positive whole number, got ${workers}`);
    }
    if (scheduler) {
      if (deviceKind === undefined) throw new Error('ActorPool: a scheduler needs a deviceKind to lease');
      this.#lease = () => scheduler.acquire(deviceKind);
    }
    this.size = workers;
    this.#host = host;
    this.#workerFile = workerFile;
    this.#workerData = workerData;
    this.#piscina = host === 'processes' ? undefined : new Piscina<ServeTask, void>({
      filename: workerFile instanceof URL ? workerFile.href : workerFile,
      workerData,
      minThreads: workers,
      maxThreads: workers,
      idleTimeout: NEVER_IDLE_MS,
      concurrentTasksPerWorker: 1,
      // Each thread runs one serve task for life, so piscina's Atomics task hand-off never helps.
      atomics: 'disabled',
    });
    this.#busy = Array.from({ length: workers }, () => false);
    this.#actors = this.#busy.map((_, slot) => this.#spawn(slot));
  }

  /** Starts the threads and resolves once every actor is built; rejects if any cannot be. */
  static async open<A extends object>(opts: PoolOptions): Promise<ActorPool<A>> {
    const pool = new ActorPool<A>(opts);
    try {
      await Promise.all(pool.#actors.map((actor) => actor.ready));
    } catch (err) {
      await pool.close();
      throw err;
    }
    return pool;
  }

  /**
   * Runs fn on the next free actor; callers waiting for one are served in arrival order.
   * Holds a lease of the pool's device kind while fn runs. Rejects, naming the slot, if the
   * actor's thread is lost meanwhile; the slot then gets a fresh thread and actor on its next
   * use, and retrying is up to the caller.
   */
  async run<R>(fn: (actor: Comlink.Remote<A>, slot: number) => Promise<R>): Promise<R> {
    // Slot first, lease second: a device shared by several pools is the scarcer resource, so
    // it is only held once an actor is ready to use it.
    const slot = await this.#take(undefined);
    try {
      const lease = await this.#lease?.();
      try {
        return await this.#call(slot, fn);
      } finally {
        lease?.release();
      }
    } finally {
      this.#give(slot);
    }
  }

  /**
   * Calls fn once on every actor, each as soon as that actor is free (e.g. to install new frozen
   * weights). Settles only when all calls have; rejects with the lowest failing slot's error.
   */
  async broadcast<R>(fn: (actor: Comlink.Remote<A>, slot: number) => Promise<R>): Promise<R[]> {
    const settled = await Promise.allSettled(
      this.#actors.map(async (_, only) => {
        const slot = await this.#take(only);
        try {
          return await this.#call(slot, fn);
        } finally {
          this.#give(slot);
        }
      }),
    );
    const failed = settled.find((s) => s.status === 'rejected');
    if (failed) throw failed.reason;
    return settled.map((s) => (s as PromiseFulfilledResult<R>).value);
  }

  /** Fails waiting and running calls, closes the ports and ends the threads. Idempotent. */
  close(): Promise<void> {
    this.#closing ??= this.#shutdown();
    return this.#closing;
  }

  async #shutdown(): Promise<void> {
    const closed = new Error('ActorPool is closed');
    // piscina reports a thread error that no task can take as an 'error' event, which would
    // crash the process; a thread dying while the pool shuts down has nobody left to tell.
    this.#piscina?.on('error', () => undefined);
    for (const waiter of this.#waiters.splice(0)) waiter.fail(closed);
    this.#actors.forEach((actor, slot) => actor.end(new Error(`actor slot ${slot}: pool closed`)));
    await this.#piscina?.destroy();
  }

  #spawn(slot: number): Incarnation<A> {
    return this.#host === 'processes' ? this.#spawnProcess(slot) : this.#spawnThread(slot);
  }

  /**
   * One actor's main-side handle over a channel (a thread's port or a child's IPC): ready once the
   * actor posts ACTOR_READY on it; `stop` ends the channel when the actor is lost or closed.
   */
  static #incarnation<A extends object>(
    channel: { on(event: 'message', l: (m: unknown) => void): unknown; off(event: 'message', l: (m: unknown) => void): unknown },
    endpoint: Comlink.Endpoint,
    stop: () => void,
  ): Incarnation<A> {
    let signalReady!: () => void;
    let signalLost!: (reason: Error) => void;
    const ready = new Promise<void>((resolve, reject) => {
      signalReady = resolve;
      signalLost = reject;
    });
    // Only open() and #call await ready; a replacement actor's failure reaches its caller via `running`.
    ready.catch(() => undefined);
    const onReady = (message: unknown): void => {
      if (message !== ACTOR_READY) return;
      channel.off('message', onReady);
      signalReady();
    };
    channel.on('message', onReady);
    const actor: Incarnation<A> = {
      remote: Comlink.wrap<A>(endpoint),
      ready,
      lost: undefined,
      running: new Set(),
      end: (reason) => {
        if (actor.lost) return;
        actor.lost = reason;
        stop();
        signalLost(reason);
        for (const fail of actor.running) fail(reason);
      },
    };
    return actor;
  }

  #spawnProcess(slot: number): Incarnation<A> {
    if (!PROCESS_HOST) throw new Error('ActorPool: dist/actors/process-host.js is missing: run `npx tsc -p tsconfig.json` first');
    const child = fork(PROCESS_HOST, [], { serialization: 'advanced', execArgv: [], stdio: ['ignore', 'inherit', 'pipe', 'ipc'] });
    // The last lines the child wrote on stderr say why it died, when it does.
    let stderr = '';
    child.stderr?.on('data', (chunk: Buffer) => (stderr = (stderr + chunk.toString()).slice(-4000)));
    const actor = ActorPool.#incarnation<A>(child, ipcEndpoint(child), () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    });
    child.on('exit', (code, signal) => {
      const last = stderr.trim().split('\n').pop();
      actor.end(new Error(`actor slot ${slot} lost its process (${signal ?? `exit code ${code}`})${last ? `: ${last}` : ''}`));
    });
    child.on('error', (err) => actor.end(new Error(`actor slot ${slot}: its process failed: ${err.message}`, { cause: err })));
    const workerFile = this.#workerFile instanceof URL ? this.#workerFile.href : pathToFileURL(this.#workerFile).href;
    const init: ProcessHostInit = { workerFile, workerData: this.#workerData };
    child.send(init);
    return actor;
  }

  #spawnThread(slot: number): Incarnation<A> {
    const piscina = this.#piscina as Piscina<ServeTask, void>;
    const { port1, port2 } = new MessageChannel();
    const actor = ActorPool.#incarnation<A>(port1, portEndpoint(port1), () => port1.close());
    piscina.run({ port: port2 }, { transferList: [port2] }).then(
      () => actor.end(new Error(`actor slot ${slot}: its serve task ended`)),
      (cause: unknown) => {
        const why = cause instanceof Error ? cause.message : String(cause);
        actor.end(new Error(`actor slot ${slot} lost its worker thread: ${why}`, { cause }));
      },
    );
    return actor;
  }

  /** Runs fn on the slot's actor, respawning it first if its thread was lost. */
  async #call<R>(slot: number, fn: (actor: Comlink.Remote<A>, slot: number) => Promise<R>): Promise<R> {
    if (this.#closing) throw new Error('ActorPool is closed');
    const respawned = this.#actors[slot].lost !== undefined;
    if (respawned) this.#actors[slot] = this.#spawn(slot);
    const actor = this.#actors[slot];
    // A comlink call to a dead thread never settles, so every call also races the actor's loss.
    // The rejecter is dropped afterwards so a long-lived actor does not pin each call's result.
    let fail!: (reason: Error) => void;
    const lost = new Promise<never>((_, reject) => (fail = reject));
    actor.running.add(fail);
    try {
      // A child process drops what reaches it before it serves the actor, so calls wait for it.
      await Promise.race([actor.ready, lost]);
      if (respawned && this.onRespawn) await Promise.race([this.onRespawn(actor.remote, slot), lost]);
      return await Promise.race([fn(actor.remote, slot), lost]);
    } finally {
      actor.running.delete(fail);
    }
  }

  #take(only: number | undefined): Promise<number> {
    if (this.#closing) return Promise.reject(new Error('ActorPool is closed'));
    // No waiter can use a slot that is free now (#give would have handed it over), so taking
    // it directly keeps arrival order.
    const slot = only === undefined ? this.#busy.indexOf(false) : this.#busy[only] ? -1 : only;
    if (slot >= 0) {
      this.#busy[slot] = true;
      return Promise.resolve(slot);
    }
    return new Promise((grant, fail) => this.#waiters.push({ slot: only, grant, fail }));
  }

  #give(slot: number): void {
    const next = this.#waiters.findIndex((w) => w.slot === undefined || w.slot === slot);
    if (next < 0) {
      this.#busy[slot] = false;
      return;
    }
    const [waiter] = this.#waiters.splice(next, 1);
    waiter.grant(slot);
  }
}
