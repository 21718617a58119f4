import type { TrainResult, TrainTask } from '../client/local-train.js';
import type { FrozenPatch } from '../client/frozen-patch.js';
import type { ClientModelSpec } from '../methods/method.js';
import type { ActorHostChoice } from '../scenario/actor-hosts.js';
import { RunStoppedError } from '../util/errors.js';

export interface DispatchEvents {
  /** A task failed (threw, or its actor died) and is retried on a fresh attempt. */
  onRetry?: (clientId: number, attempt: number, error: Error) => void;
  /** A task succeeded on the actor in slot `slot` (for per-actor busy time). */
  onDone?: (result: TrainResult, slot: number) => void;
}

/**
 * Where client tasks run, as the round loop sees it: worker threads, child processes, or
 * `fedpft worker` processes behind a queue. A task is a pure function of the client model and
 * the task, so the host decides only where it runs, never what it computes.
 */
export interface ClientHost {
  /** What the host depends on (clientPoolKey): runs with the same key may share it. */
  readonly key: string;
  /** Where the actors run (environment.json records it). */
  readonly kind: ActorHostChoice;
  /** Slots for per-slot busy time: actors here, or the queue's concurrency. */
  readonly size: number;
  /** Installs a run's client model in every actor (and in actors that join or are replaced later). */
  loadModel(spec: ClientModelSpec): Promise<void>;
  /** Applies a frozen-model patch everywhere, after the client model's own copy has it. */
  updateFrozen(patches: FrozenPatch[]): Promise<void>;
  /**
   * Runs one client task, retrying up to `maxRetries` times when it throws or its actor dies.
   * makeTask builds a fresh task per attempt (a task's buffers are moved away); injected faults
   * apply to the first attempt only, except a NaN update, which belongs to the client.
   */
  train(makeTask: () => TrainTask, maxRetries: number, events?: DispatchEvents): Promise<TrainResult>;
  /** The largest live tensor count over the actors (a leak shows as growth). */
  numTensors(): Promise<number>;
  close(): Promise<void>;
}

/**
 * ClientHost.train's retry rule for any host: `attempt` runs one attempt of a task (its number
 * given, for job ids) and says which slot ran it. A RunStoppedError (a mixed backend, a refused
 * task) is the run's fault, not the attempt's, and is never retried.
 */
export async function trainWithRetries(
  makeTask: () => TrainTask,
  maxRetries: number,
  events: DispatchEvents,
  attempt: (task: TrainTask, attempt: number) => Promise<{ result: TrainResult; slot: number }>,
): Promise<TrainResult> {
  for (let n = 0; ; n++) {
    const task = makeTask();
    // Faults injected for testing belong to the first attempt only; a NaN update to the client.
    if (n > 0 && task.inject !== 'nan') delete task.inject;
    try {
      const { result, slot } = await attempt(task, n);
      events.onDone?.(result, slot);
      return result;
    } catch (err) {
      if (err instanceof RunStoppedError) throw err;
      if (n >= maxRetries) throw new Error(`client ${task.clientId} failed ${n + 1} times; last error: ${(err as Error).message}`);
      events.onRetry?.(task.clientId, n + 1, err as Error);
    }
  }
}

/**
 * Every actor must run the backend the server records, or one run would silently mix kernels;
 * `where` names the actor, `actual` is the backend it reports.
 */
export function checkActorBackend(server: string, where: string, actual: string): void {
  if (actual !== server) {
    throw new RunStoppedError(`${where} runs the ${actual} backend, the server ${server}: a run must not mix backends (set runtime.backend to one every actor can load)`);
  }
}
