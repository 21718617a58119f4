import type { FaultsConfig } from '../scenario/schema.js';
import { stream } from '../util/rng.js';

export type Injection = 'throw' | 'crash' | 'nan';

export interface RoundPlan {
  /** Clients that train and whose updates arrive in time, ascending. */
  participants: number[];
  /** Sampled clients that dropped out (received the model, sent nothing). */
  dropped: number[];
  /** Stragglers whose update would arrive after the round's deadline (discarded, so not run). */
  late: number[];
  /** Injected faults for testing, by client. */
  inject: Map<number, Injection>;
}

/**
 * Who of the sampled clients takes part in a round, from the round's own fault stream.
 * A straggler's time is `slowdown` x its step count; the deadline is `deadline` x the longest
 * step count among the round's normal clients (all clients when every one is slow).
 */
export function planRound(seed: number, round: number, sampled: readonly number[], faults: FaultsConfig, stepsOf: (client: number) => number): RoundPlan {
  const dropped: number[] = [];
  const active: { client: number; slow: boolean }[] = [];
  const inject = new Map<number, Injection>();
  for (const client of sampled) {
    const rng = stream(seed, 'faults', round, client);
    const dropDraw = rng.next();
    const slowDraw = rng.next();
    const injectDraw = rng.next();
    const nanDraw = rng.next();
    if (injectDraw < faults.taskErrors) inject.set(client, 'throw');
    else if (injectDraw < faults.taskErrors + faults.workerCrashes) inject.set(client, 'crash');
    else if (nanDraw < faults.nanUpdates) inject.set(client, 'nan');
    if (dropDraw < faults.dropout) dropped.push(client);
    else active.push({ client, slow: slowDraw < faults.stragglers.probability });
  }
  const normal = active.filter((a) => !a.slow);
  const reference = Math.max(0, ...(normal.length > 0 ? normal : active).map((a) => stepsOf(a.client)));
  const limit = faults.stragglers.deadline * reference;
  const late = active.filter((a) => a.slow && faults.stragglers.slowdown * stepsOf(a.client) > limit).map((a) => a.client);
  const participants = active.map((a) => a.client).filter((c) => !late.includes(c));
  return { participants, dropped, late, inject };
}

/** True when every value is finite: an update with NaN or Inf must never reach the global model. */
export function isFiniteUpdate(w: Float32Array): boolean {
  for (let i = 0; i < w.length; i++) if (!Number.isFinite(w[i] as number)) return false;
  return true;
}
