/**
 * `fedpft report`: tables over seeds printed and written as report.md and report.csv,
 * accuracy.svg (accuracy per round per configuration) and partition-<run>.svg (each client's
 * label counts, one picture per partition setting).
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { partitionJson } from '../data/partition-table.js';
import { partition } from '../data/partition.js';
import { loadTrainLabels } from '../data/registry.js';
import { lineChart, stackedBars } from '../report/svg.js';
import { buildTables, groupLabel, renderCli, renderCsv, renderMarkdown } from '../report/tables.js';
import { groupRuns, partitionLabel, type Grouping } from './groups.js';
import { findRuns, type RunResult } from './results.js';
import type { Scenario } from '../scenario/schema.js';

export interface ReportOptions {
  paths: readonly string[];
  /** Where report.md, report.csv and the SVGs go. */
  out: string;
  /** Leave out the partition pictures (they reload each dataset). */
  partitions?: boolean;
  log?: (line: string) => void;
}

export interface ReportOutcome {
  grouping: Grouping;
  files: string[];
  /** The printed text. */
  text: string;
}

/** The runs whose partition gets a picture: one per setting (dataset, clients, partition), the lowest seed. */
function partitionRuns(runs: readonly RunResult[]): RunResult[] {
  const chosen = new Map<string, RunResult>();
  for (const r of runs) {
    if (!r.partitionSizes) continue;
    const s = r.scenario;
    const key = JSON.stringify([s.task.dataset, s.task.trainLimit ?? null, s.federation.clients, s.partition]);
    const had = chosen.get(key);
    if (!had || s.seed < had.scenario.seed) chosen.set(key, r);
  }
  return [...chosen.values()];
}

/** Finished runs per kernel set (runs from before kernel sets ran the stock kernels: exact). */
function kernelSets(runs: readonly RunResult[]): Map<string, number> {
  const sets = new Map<string, number>();
  for (const r of runs) {
    // scenario.json is read as written: runs from before kernel sets name none.
    const set = (r.scenario.runtime as Partial<Scenario['runtime']> | undefined)?.kernels ?? 'exact';
    sets.set(set, (sets.get(set) ?? 0) + 1);
  }
  return sets;
}

export function writeReport(opts: ReportOptions): ReportOutcome {
  const log = opts.log ?? ((line: string) => console.log(line));
  const runs = findRuns(opts.paths);
  const grouping = groupRuns(runs);
  const tables = buildTables(grouping);
  const notes: string[] = [];
  const finished = runs.length - grouping.unfinished.length;
  notes.push(`${finished} finished runs in ${grouping.groups.length} configurations${grouping.unfinished.length ? `; ${grouping.unfinished.length} unfinished, left out: ${grouping.unfinished.map((r) => r.name).join(', ')}` : ''}`);
  const sets = kernelSets(runs.filter((r) => r.summary));
  if (sets.size > 1) notes.push(`kernel sets: ${[...sets].map(([set, n]) => `${set} (${n} runs)`).join(', ')}; a comparison across sets includes their rounding differences`);
  if (grouping.duplicates.length) notes.push(`left out as repeats of a seed already counted: ${grouping.duplicates.map((r) => r.dir).join(', ')}`);

  const text = [...notes, '', ...tables.map((t) => renderCli(t) + '\n')].join('\n');
  log(text);
  mkdirSync(opts.out, { recursive: true });
  const files: string[] = [];
  const write = (name: string, content: string) => {
    const file = join(opts.out, name);
    writeFileSync(file, content);
    files.push(file);
  };
  write('report.md', ['# fedpft report', '', ...notes.map((n) => `${n}  `), '', ...tables.map(renderMarkdown)].join('\n'));
  write('report.csv', renderCsv(grouping));
  write(
    'accuracy.svg',
    lineChart({
      title: 'Accuracy per round (mean over seeds)',
      xLabel: 'round',
      yLabel: 'accuracy (%)',
      series: grouping.groups.map((g) => ({ label: `${groupLabel(g, grouping)} (n=${g.runs.length})`, points: g.curve.map((c) => [c.round, c.accuracy] as [number, number]) })),
    }),
  );
  if (opts.partitions ?? true) {
    for (const r of partitionRuns(runs)) {
      const s = r.scenario;
      const train = loadTrainLabels(s.task.dataset, { trainLimit: s.task.trainLimit, files: s.task.files });
      const p = partition(train.labels, train.numClasses, s.federation.clients, s.partition, s.seed);
      const sizes = p.clients.map((c) => c.length);
      if (JSON.stringify(sizes) !== JSON.stringify(r.partitionSizes)) {
        log(`${r.dir}: partition.json does not match the partition drawn again from scenario.json; no picture`);
        continue;
      }
      const pj = partitionJson(p, train.labels, train.classNames);
      write(
        `partition-${r.name}.svg`,
        stackedBars({
          title: `${s.task.dataset}, ${s.federation.clients} clients, ${partitionLabel(s.partition.family, pj.alpha)}, seed ${s.seed}: labels per client`,
          xLabel: 'client',
          yLabel: 'examples',
          classNames: pj.classNames,
          bars: pj.clients.map((c) => ({ label: String(c.id), counts: c.counts })),
        }),
      );
    }
  }
  log(`wrote ${files.join(', ')}`);
  return { grouping, files, text };
}
