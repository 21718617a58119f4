import { once } from 'node:events';
import type { MessagePort } from 'node:worker_threads';
import * as Comlink from 'comlink';
// @ts-expect-error comlink ships no .d.mts for its ESM Node adapter; the type is restated below.
import nodeAdapter from 'comlink/dist/esm/node-adapter.mjs';
import { workerData } from 'piscina';

/** Comlink endpoint over a worker_threads MessagePort, shared by both sides of the pool. */
export const portEndpoint: (port: MessagePort) => Comlink.Endpoint = nodeAdapter;

/** Posted once the actor answers on the port, so ActorPool.open fails fast on a broken actor. */
export const ACTOR_READY = 'fedpft:actor-ready';

/** Where a hostActor handler keeps its factory, so a child process can build the actor itself. */
export const ACTOR_FACTORY = Symbol.for('fedpft:actor-factory');

export type ActorFactory<A extends object = object> = (workerData: unknown) => A | Promise<A>;

/** A hostActor handler: a piscina task handler that also carries its actor factory. */
export type ActorHandler = ((task: ServeTask) => Promise<void>) & { [ACTOR_FACTORY]: ActorFactory };

/** The piscina task that ActorPool sends each thread: the worker's end of a fresh channel. */
export interface ServeTask {
  port: MessagePort;
}

// Built once per thread and kept across serve tasks: the model stays resident.
let actor: Promise<object> | undefined;

/**
 * Turns an actor factory into a piscina task handler; a worker file does
 * `export default hostActor(makeMyActor)`. The handler serves the actor over the task's port
 * and only returns when that port closes, so the task holds its thread for the actor's life.
 */
export function hostActor<A extends object>(factory: ActorFactory<A>): ActorHandler {
  const handler = async ({ port }: ServeTask): Promise<void> => {
    const closed = once(port, 'close');
    actor ??= Promise.resolve()
      .then(() => factory(workerData))
      .catch((err: unknown) => {
        // A failed build is not cached, so a replacement serve task tries again.
        actor = undefined;
        throw err;
      });
    Comlink.expose(await actor, portEndpoint(port));
    port.postMessage(ACTOR_READY);
    await closed;
  };
  return Object.assign(handler, { [ACTOR_FACTORY]: factory as ActorFactory });
}
