import Table from 'cli-table3';
import type { RoundRecord } from '../results/run-dir.js';

export interface RunSummary {
  scenario: string;
  runId: string;
  method: string;
  backend: string;
  /** The kernel set (absent in runs from before kernel sets: exact). */
  kernels?: string;
  rounds: number;
  finalAccuracy: number | null;
  bestAccuracy: number | null;
  bestRound: number | null;
  wallSeconds: number;
  bytesUpTotal: number;
  bytesDownTotal: number;
  finalWeightsSha256: string;
  methodInfo: Record<string, unknown>;
  /** How clients train locally (the reference code clips at 1 and decays the rate per round). */
  localTraining?: { optimizer: string; weightDecay: number; maxGradNorm: number; schedule: string };
  partition: { family: string; alpha: number | null; imbalance?: number | null; seed: number; classOrder: number[] };
}

const pct = (x: number | null | undefined): string => (x === null || x === undefined ? '-' : `${(100 * x).toFixed(2)}%`);

/** The per-evaluation table printed at the end of a run, then the headline numbers. */
export function formatRunTable(rounds: readonly RoundRecord[], summary: RunSummary): string {
  const table = new Table({ head: ['round', 'lr', 'train loss', 'accuracy', 'wall s', 'KB up', 'KB down'], style: { head: [], border: [] } });
  for (const r of rounds) {
    if (r.accuracy === undefined) continue;
    table.push([r.round, r.lr.toExponential(2), r.meanTrainLoss === null ? '-' : r.meanTrainLoss.toFixed(4), pct(r.accuracy), r.wallSeconds.toFixed(1), (r.bytesUp / 1024).toFixed(0), (r.bytesDown / 1024).toFixed(0)]);
  }
  const head = new Table({ style: { head: [], border: [] } });
  head.push(
    { method: summary.method },
    { backend: summary.backend },
    { 'final accuracy': pct(summary.finalAccuracy) },
    { 'best accuracy': `${pct(summary.bestAccuracy)} (round ${summary.bestRound ?? '-'})` },
    { 'wall time': `${summary.wallSeconds.toFixed(1)} s` },
    { partition: `${summary.partition.family}${summary.partition.alpha === null ? '' : ` alpha=${summary.partition.alpha}`}${summary.partition.imbalance ? ` imbalance=${summary.partition.imbalance}` : ''} seed=${summary.partition.seed}` },
  );
  return `${table.toString()}\n${head.toString()}`;
}
