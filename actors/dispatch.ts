import * as Comlink from 'comlink';
import type { TrainResult, TrainTask } from '../src/client/local-train.js';
import type { ClientActor } from './client-actor.js';
import type { ActorPool } from './pool.js';

export interface DispatchEvents {
  /** A task failed (threw, or its worker died) and is retried on a fresh attempt. */
  onRetry?: (clientId: number, attempt: number, error: Error) => void;
  /** A task succeeded on the actor in pool slot `slot` (for per-worker busy time). */
  onDone?: (result: TrainResult, slot: number) => void;
}

/**
 * Runs one client task on any free actor, retrying up to `maxRetries` times when the task
 * throws or its worker thread dies (the pool replaces a dead thread). Injected faults apply to
 * the first attempt only, except a NaN update, which belongs to the client, not the attempt.
 * The task is rebuilt for every attempt because its buffers are transferred away.
 */
export async function trainWithRetry(
  pool: ActorPool<ClientActor>,
  makeTask: () => TrainTask,
  maxRetries: number,
  events: DispatchEvents = {},
): Promise<TrainResult> {
  for (let attempt = 0; ; attempt++) {
    const task = makeTask();
    if (attempt > 0 && task.inject !== 'nan') delete task.inject;
    try {
      return await pool.run(async (actor, slot) => {
        const result = await actor.train(Comlink.transfer(task, [task.weights.buffer, task.indices.buffer]));
        events.onDone?.(result, slot);
        return result;
      });
    } catch (err) {
      if (attempt >= maxRetries) throw new Error(`client ${task.clientId} failed ${attempt + 1} times; last error: ${(err as Error).message}`);
      events.onRetry?.(task.clientId, attempt + 1, err as Error);
    }
  }
}
