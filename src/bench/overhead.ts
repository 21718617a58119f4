import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { RoundTiming } from '../run/recorder.js';
import { runScenario, type ClientHosts } from '../run/run-scenario.js';
import type { BackendChoice } from '../tensor/backend.js';
import { benchScenario, FEDPETUNING, load1, median } from './common.js';

export interface OverheadBenchOptions {
  hosts: ClientHosts;
  modelDir: string;
  backend: BackendChoice;
  workers: number;
  clients: number;
  clientsPerRound: number;
  rounds: number;
  /** Only the first N MNIST training examples (all 8,000 when absent). */
  trainLimit?: number;
  /** Validation examples for the one evaluation (last round); its time is subtracted anyway. */
  evalLimit: number;
}

export interface OverheadRound extends RoundTiming {
  /** wallSeconds - dispatchSeconds - evalSeconds. */
  outsideSeconds: number;
  /** outsideSeconds / wallSeconds. */
  outsideShare: number;
  /** dispatchSeconds - max(workerBusySeconds): the busiest actor's time not spent training. */
  dispatchOverheadSeconds: number;
  /** dispatchOverheadSeconds / wallSeconds. */
  dispatchOverheadShare: number;
}

export interface OverheadBench {
  definition: string;
  scenario: { dataset: string; clients: number; clientsPerRound: number; rounds: number; workers: number; method: string; partition: string };
  rounds: OverheadRound[];
  /** Median over rounds of outsideShare. */
  outsideShare: number;
  /** Sum over rounds of outsideSeconds / sum of wallSeconds. */
  outsideShareTotal: number;
  /** Median over rounds of dispatchOverheadShare. */
  dispatchOverheadShare: number;
  /** Median over rounds of wallSeconds. */
  roundSeconds: number;
  loadBefore: number;
  loadAfter: number;
}

export const OVERHEAD_DEFINITION =
  "per round of a runScenario run (quickstart's federation: FedPETuning, MNIST, Dirichlet alpha=1): " +
  'wall = the whole round from sampling to checkpoint and log line; outside = wall - dispatch - eval, where dispatch = wall time from sending the first client task ' +
  "to receiving the last update and eval = the global model's evaluation (last round only); outside covers sampling, the method hook, FedAvg, tensor counts, rounds.jsonl, checkpoint and log. " +
  "dispatch overhead = dispatch - the busiest actor's summed local-training time: messaging, weight copies and gaps inside the dispatch phase. Shares are medians over rounds";

/** Where the wall time of a quickstart-like run goes, from the round loop's own timings. */
export async function benchOverhead(opts: OverheadBenchOptions): Promise<OverheadBench> {
  const loadBefore = load1();
  const scenario = benchScenario({
    name: 'bench-overhead',
    modelDir: opts.modelDir,
    backend: opts.backend,
    workers: opts.workers,
    dataset: 'mnist',
    ...(opts.trainLimit ? { trainLimit: opts.trainLimit } : {}),
    evalLimit: opts.evalLimit,
    partition: { family: 'dirichlet', alpha: 1 },
    clients: opts.clients,
    clientsPerRound: opts.clientsPerRound,
    rounds: opts.rounds,
    evalEvery: opts.rounds,
    batchSize: 16,
    method: FEDPETUNING,
  });
  const root = mkdtempSync(join(tmpdir(), 'fedpft-bench-overhead-'));
  const timings: RoundTiming[] = [];
  try {
    // Log lines are formatted as in a real run (that cost counts) but not printed.
    await runScenario({ scenario, resultsRoot: root, runId: 'run', log: () => {}, hosts: opts.hosts, observers: [{ onRound: (_, t) => void timings.push(t) }] });
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
  const rounds = timings.map((t): OverheadRound => {
    const outsideSeconds = t.wallSeconds - t.dispatchSeconds - t.evalSeconds;
    const dispatchOverheadSeconds = t.dispatchSeconds - Math.max(...t.workerBusySeconds);
    return { ...t, outsideSeconds, outsideShare: outsideSeconds / t.wallSeconds, dispatchOverheadSeconds, dispatchOverheadShare: dispatchOverheadSeconds / t.wallSeconds };
  });
  return {
    definition: OVERHEAD_DEFINITION,
    scenario: { dataset: 'mnist', clients: opts.clients, clientsPerRound: opts.clientsPerRound, rounds: opts.rounds, workers: opts.workers, method: 'fedpetuning', partition: 'dirichlet alpha=1' },
    rounds,
    outsideShare: median(rounds.map((r) => r.outsideShare)),
    outsideShareTotal: rounds.reduce((s, r) => s + r.outsideSeconds, 0) / rounds.reduce((s, r) => s + r.wallSeconds, 0),
    dispatchOverheadShare: median(rounds.map((r) => r.dispatchOverheadShare)),
    roundSeconds: median(rounds.map((r) => r.wallSeconds)),
    loadBefore,
    loadAfter: load1(),
  };
}
