/**
 * The entry of a child-process actor (runtime.actors: processes). The parent sends one message:
 * the actor module's URL and the workerData its factory takes. The child builds the actor from
 * the module's hostActor handler, serves it over IPC with comlink and says when it is ready.
 * One process holds one actor for its life, so a backend that loads once per process (the
 * tensorflow binding) loads once per actor.
 */
import * as Comlink from 'comlink';
import { ipcEndpoint } from './process-endpoint.js';
import { ACTOR_FACTORY, ACTOR_READY, type ActorHandler } from './worker-host.js';

export interface ProcessHostInit {
  workerFile: string;
  workerData: unknown;
}

process.once('message', (message: unknown) => {
  const { workerFile, workerData } = message as ProcessHostInit;
  void (async () => {
    const mod = (await import(workerFile)) as { default?: ActorHandler };
    const factory = mod.default?.[ACTOR_FACTORY];
    if (!factory) throw new Error(`${workerFile}: its default export is not a hostActor(...) handler`);
    Comlink.expose(await factory(workerData), ipcEndpoint(process));
    process.send?.(ACTOR_READY);
  })().catch((err: unknown) => {
    // The parent reads the reason from stderr's last line and sees the exit.
    console.error(err instanceof Error ? err.message : String(err));
    process.exit(1);
  });
});
