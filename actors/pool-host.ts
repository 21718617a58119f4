import * as Comlink from 'comlink';
import type { TrainResult, TrainTask } from '../src/client/local-train.js';
import type { FrozenPatch } from '../src/client/frozen-patch.js';
import type { ClientModelSpec } from '../src/methods/method.js';
import { backendLabel } from '../src/tensor/backend.js';
import type { ClientActor } from './client-actor.js';
import { checkActorBackend, trainWithRetries, type ClientHost, type DispatchEvents } from '../src/run/client-host.js';
import type { ActorPool } from './pool.js';

/**
 * Client actors of this machine (worker threads or child processes) behind the ClientHost
 * interface. A replaced actor (its thread or process died) gets the current client model and
 * is checked for its backend before it serves again.
 */
export class PoolHost implements ClientHost {
  readonly size: number;
  #model: ClientModelSpec | undefined;

  private constructor(
    readonly key: string,
    readonly kind: 'threads' | 'processes',
    readonly pool: ActorPool<ClientActor>,
    readonly backend: string,
  ) {
    this.size = pool.size;
    pool.onRespawn = async (actor, slot) => {
      checkActorBackend(backend, `client actor ${slot} (replaced)`, backendLabel(await actor.backend()));
      if (this.#model) await actor.loadModel(this.#model);
    };
  }

  /** Wraps an open pool of `kind`, refusing it (and closing it) when an actor runs another backend than `backend`. */
  static async over(key: string, kind: 'threads' | 'processes', pool: ActorPool<ClientActor>, backend: string): Promise<PoolHost> {
    try {
      const names = await pool.broadcast(async (actor) => backendLabel(await actor.backend()));
      names.forEach((name, slot) => checkActorBackend(backend, `client actor ${slot}`, name));
    } catch (err) {
      await pool.close();
      throw err;
    }
    return new PoolHost(key, kind, pool, backend);
  }

  async loadModel(spec: ClientModelSpec): Promise<void> {
    // The spec's tensors change in place as patches arrive, so a replacement gets today's model.
    this.#model = spec;
    await this.pool.broadcast((actor) => actor.loadModel(spec));
  }

  async updateFrozen(patches: FrozenPatch[]): Promise<void> {
    await this.pool.broadcast((actor) => actor.updateFrozen(patches));
  }

  train(makeTask: () => TrainTask, maxRetries: number, events: DispatchEvents = {}): Promise<TrainResult> {
    return trainWithRetries(makeTask, maxRetries, events, (task) =>
      this.pool.run(async (actor, slot) => ({ result: await actor.train(Comlink.transfer(task, [task.weights.buffer, task.indices.buffer])), slot })),
    );
  }

  async numTensors(): Promise<number> {
    return Math.max(...(await this.pool.broadcast((actor) => actor.numTensors())));
  }

  close(): Promise<void> {
    return this.pool.close();
  }
}
