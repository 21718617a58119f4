/**
 * Everything a round leaves behind besides the new global vector: wall-clock timing, bytes on
 * the wire, the live-tensor census, rounds.jsonl, the checkpoint and the log line. The round
 * loop calls it; observers (the bench, a test's stop) read what it recorded.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { TrainResult } from '../client/local-train.js';
import type { RoundHookResult } from '../methods/method.js';
import type { NamedArray } from '../model/safetensors.js';
import type { RoundPlan } from '../fl/faults.js';
import { patchBytes } from '../client/frozen-patch.js';
import type { RunDir, RoundRecord } from '../results/run-dir.js';
import type { ClientHost, DispatchEvents } from './client-host.js';

/** Where a round's wall time went (seconds); timings differ between identical runs, so they stay out of the results. */
export interface RoundTiming {
  round: number;
  /** The whole iteration, from sampling to the checkpoint and the log line. */
  wallSeconds: number;
  /** The method's afterAggregate hook (realignment); 0 when it has none. */
  hookSeconds: number;
  /** From dispatching the first client task until the last update arrived. */
  dispatchSeconds: number;
  /** Per actor slot: summed local training time (TrainResult.trainMs) of the tasks it completed this round. */
  workerBusySeconds: number[];
  /** method.evaluate; 0 in rounds without evaluation. */
  evalSeconds: number;
}

/** Told of every recorded round; `stop` ends the run there, checkpointed, as a crash would. */
export interface RoundObserver {
  onRound(record: Readonly<RoundRecord>, timing: Readonly<RoundTiming>): 'stop' | void;
}

/** An observer that stops a run after `round` (`fedpft run --stop-after-round`, tests of resume). */
export function stopAfter(round: number): RoundObserver {
  return { onRound: (record) => (record.round >= round ? 'stop' : undefined) };
}

/** What the loop hands over at the end of a round. */
export interface RoundOutcome {
  round: number;
  lr: number;
  sampled: number[];
  plan: RoundPlan;
  arrived: readonly TrainResult[];
  /** The updates that were aggregated (finite ones). */
  aggregated: readonly TrainResult[];
  rejected: number[];
  /** Bytes the clients downloaded: the global vector, and the frozen patches each lacked. */
  bytesDown: number;
  hook: RoundHookResult;
  evaluation: { accuracy: number; loss: number } | null;
  global: Float32Array;
  methodState: () => Promise<NamedArray[]>;
}

export class RoundRecorder {
  readonly rounds: RoundRecord[];
  #t0 = 0;
  #busyMs: number[] = [];
  #seconds = { dispatch: 0, hook: 0, eval: 0 };

  constructor(
    private readonly dir: RunDir,
    private readonly host: ClientHost,
    private readonly totalRounds: number,
    readonly log: (line: string) => void,
    private readonly observers: readonly RoundObserver[],
    kept: RoundRecord[],
  ) {
    this.rounds = kept;
  }

  begin(): void {
    this.#t0 = performance.now();
    this.#busyMs = Array.from({ length: this.host.size }, () => 0);
    this.#seconds = { dispatch: 0, hook: 0, eval: 0 };
  }

  /** Dispatch events that log retries and add each task's training time to its actor slot. */
  events(round: number, maxRetries: number): DispatchEvents {
    return {
      onRetry: (c, attempt, err) => this.log(`round ${round}: client ${c} failed (${err.message.split('\n')[0]}); retry ${attempt}/${maxRetries}`),
      onDone: (result, slot) => (this.#busyMs[slot] = (this.#busyMs[slot] as number) + result.trainMs),
    };
  }

  /** Runs one phase of the round and keeps its wall time. */
  async time<T>(phase: 'dispatch' | 'hook' | 'eval', work: () => Promise<T>): Promise<T> {
    const t = performance.now();
    try {
      return await work();
    } finally {
      this.#seconds[phase] = (performance.now() - t) / 1000;
    }
  }

  /**
   * Writes the round: its record (rounds.jsonl), the frozen patches to every actor, the
   * checkpoint, the log line. `publish` applies the patches (after the census, before the
   * checkpoint). Returns whether an observer asked to stop.
   */
  async end(o: RoundOutcome, publish: () => Promise<void>): Promise<boolean> {
    const { hook, arrived, aggregated } = o;
    const frozen = hook.frozenUpdate ?? [];
    const record: RoundRecord = {
      round: o.round,
      lr: o.lr,
      clients: o.sampled,
      meanTrainLoss: aggregated.length > 0 ? aggregated.reduce((s, r) => s + r.meanLoss, 0) / aggregated.length : null,
      wallSeconds: 0,
      clientTrainSeconds: arrived.reduce((s, r) => s + r.trainMs, 0) / 1000,
      clientSteps: arrived.reduce((s, r) => s + r.steps, 0),
      bytesUp: arrived.reduce((s, r) => s + r.weights.byteLength, 0) + (hook.probeBytesUp ?? 0),
      bytesDown: o.bytesDown,
      ...(o.plan.dropped.length + o.plan.late.length + o.rejected.length > 0 ? { faults: { dropped: o.plan.dropped, late: o.plan.late, rejected: o.rejected } } : {}),
      ...(hook.record ? { method: hook.record } : {}),
      ...(frozen.length > 0 ? { frozenPatchBytes: patchBytes(frozen) } : {}),
    };
    if (o.evaluation) {
      record.accuracy = o.evaluation.accuracy;
      record.evalLoss = o.evaluation.loss;
    }
    // Live tensor counts: a run whose counts grow leaks, whatever its accuracy says.
    record.tensors = { server: tf.memory().numTensors, actorMax: await this.host.numTensors() };
    record.wallSeconds = (performance.now() - this.#t0) / 1000;
    await publish();
    this.dir.appendRound(record);
    this.dir.saveCheckpoint({ round: o.round, global: o.global, methodState: await o.methodState(), facts: {} });
    this.rounds.push(record);
    const acc = record.accuracy === undefined ? '' : `  acc ${(100 * record.accuracy).toFixed(2)}%`;
    const loss = record.meanTrainLoss === null ? 'no updates' : `loss ${record.meanTrainLoss.toFixed(4)}`;
    this.log(`round ${o.round}/${this.totalRounds}  lr ${o.lr.toExponential(2)}  ${loss}${acc}  ${record.wallSeconds.toFixed(1)}s`);
    const timing: RoundTiming = {
      round: o.round,
      wallSeconds: (performance.now() - this.#t0) / 1000,
      hookSeconds: this.#seconds.hook,
      dispatchSeconds: this.#seconds.dispatch,
      workerBusySeconds: this.#busyMs.map((ms) => ms / 1000),
      evalSeconds: this.#seconds.eval,
    };
    let stop = false;
    for (const observer of this.observers) stop = observer.onRound(record, timing) === 'stop' || stop;
    return stop;
  }
}
