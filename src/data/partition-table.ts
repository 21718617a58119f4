import Table from 'cli-table3';
import { labelCounts, type Partition } from './partition.js';

export interface PartitionJson {
  family: string;
  alpha: number | null;
  imbalance: number | null;
  seed: number;
  classOrder: number[];
  /** Names of the classes that `counts` index. */
  classNames: string[];
  clients: Array<{ id: number; size: number; counts: number[] }>;
}

/** One row per client (id, size, count per class) and a total row. Uncoloured and compact, so it reads well in a file. */
export function formatPartitionTable(p: Partition, labels: Int32Array, classNames: string[]): string {
  const counts = labelCounts(p, labels, classNames.length);
  const table = new Table({
    head: ['client', 'size', ...classNames],
    colAligns: ['right', 'right', ...classNames.map(() => 'right' as const)],
    style: { head: [], border: [], compact: true },
  });
  const totals = new Array<number>(classNames.length).fill(0);
  counts.forEach((row, id) => {
    row.forEach((count, k) => (totals[k] = (totals[k] as number) + count));
    table.push([id, p.clients[id]?.length ?? 0, ...row]);
  });
  table.push(['total', totals.reduce((s, x) => s + x, 0), ...totals]);
  return table.toString();
}

/** The partition as recorded in results: its parameters and each client's label counts. */
export function partitionJson(p: Partition, labels: Int32Array, classNames: string[]): PartitionJson {
  return {
    family: p.family,
    alpha: p.alpha,
    imbalance: p.imbalance,
    seed: p.seed,
    classOrder: [...p.classOrder],
    classNames: [...classNames],
    clients: labelCounts(p, labels, classNames.length).map((counts, id) => ({ id, size: p.clients[id]?.length ?? 0, counts })),
  };
}
