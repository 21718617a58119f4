/**
 * Finished runs grouped by everything that varies except the seed: method, task, partition and
 * any other scenario field whose value differs between runs (e.g. method.interval), with
 * mean and sample standard deviation over the seeds of each group.
 */
import { BUILTIN_METHOD_NAMES } from '../methods/registry.js';
import { flatten, type RunResult } from './results.js';

export interface Stat {
  n: number;
  mean: number;
  /** Sample standard deviation (n - 1); null for a single value. */
  std: number | null;
}

export interface Group {
  key: string;
  method: string;
  task: string;
  family: string;
  alpha: number | null;
  /** Other fields that vary between runs, as [label, value]; labels drop the `method.` prefix. */
  config: Array<[string, unknown]>;
  runs: RunResult[];
  seeds: number[];
  final: Stat | null;
  best: Stat | null;
  bestRound: Stat | null;
  /** lateGain over the group's runs: how far from a plateau they stopped. */
  lateGain: Stat | null;
  /** Mean accuracy over the group's runs at each evaluated round. */
  curve: Array<{ round: number; accuracy: number }>;
}

export interface Grouping {
  groups: Group[];
  /** Dotted fields (besides method, task and partition) that vary, in group config order. */
  varying: string[];
  /** Runs without summary.json. */
  unfinished: RunResult[];
  /** Runs left out because another run of the same group had the same seed. */
  duplicates: RunResult[];
}

/** Method order in tables: the registration's (the baselines, then FedPFT and its ablations), then user methods. */
const METHOD_ORDER = BUILTIN_METHOD_NAMES;

/** Fields never grouped on: the seed is what a group averages over; runtime does not change results. */
const IGNORED = (field: string) => field === 'name' || field === 'seed' || field.startsWith('runtime.') || field === 'method.name' || field === 'task.dataset' || field === 'partition.family' || field === 'partition.alpha';

export function stat(values: readonly number[]): Stat | null {
  const n = values.length;
  if (n === 0) return null;
  const mean = values.reduce((s, x) => s + x, 0) / n;
  const std = n > 1 ? Math.sqrt(values.reduce((s, x) => s + (x - mean) ** 2, 0) / (n - 1)) : null;
  return { n, mean, std };
}

/**
 * How much a run's best accuracy still rose in its last 20 % of evaluated rounds: the best of
 * those minus the best before them (a fraction; null with fewer than 2 evaluations). The
 * reference scenarios' horizons are chosen so that this stays under 0.003 (0.3 points).
 */
export function lateGain(rounds: readonly { accuracy?: number }[]): number | null {
  const accs = rounds.map((r) => r.accuracy).filter((a): a is number => typeof a === 'number');
  if (accs.length < 2) return null;
  const late = Math.max(1, Math.ceil(0.2 * accs.length));
  return Math.max(...accs.slice(-late)) - Math.max(...accs.slice(0, -late));
}

export function configLabel(field: string): string {
  return field.startsWith('method.') ? field.slice('method.'.length) : field;
}

function show(value: unknown): string {
  return typeof value === 'string' ? value : JSON.stringify(value) ?? 'default';
}

/** Orders values: numbers ascending, then the rest by their text. */
export function compareValues(a: unknown, b: unknown): number {
  if (typeof a === 'number' && typeof b === 'number') return a - b;
  if (typeof a === 'number') return -1;
  if (typeof b === 'number') return 1;
  return show(a).localeCompare(show(b));
}

export function methodRank(method: string): number {
  const i = METHOD_ORDER.indexOf(method);
  return i < 0 ? METHOD_ORDER.length : i;
}

export function partitionLabel(family: string, alpha: number | null): string {
  return alpha === null ? family : `${family} α=${alpha}`;
}

/**
 * A run's scenario fields, with the files it names (model.dir, task.files, method.module) as
 * their recorded contents when every run recorded them: runs of one FM made from two checkouts
 * name it by two paths, and one path may have held two FMs.
 */
function fieldsOf(run: RunResult, byContents: boolean): Map<string, unknown> {
  const flat = flatten(run.scenario);
  const inputs = run.inputs;
  if (!byContents || !inputs) return flat;
  const hash = (field: string) => (inputs[field] === undefined ? undefined : `sha256:${inputs[field].slice(0, 12)}`);
  for (const field of ['model.dir', 'task.files.validation', 'method.module']) if (flat.has(field)) flat.set(field, hash(field));
  const train = flat.get('task.files.train');
  if (train !== undefined) flat.set('task.files.train', (Array.isArray(train) ? train : [train]).map((_, i) => hash(`task.files.train.${i}`)));
  return flat;
}

/** Fields that vary: method fields only count when they vary among runs of one method. */
function varyingFields(runs: readonly RunResult[], byContents: boolean): string[] {
  const flat = runs.map((r) => fieldsOf(r, byContents));
  const fields = [...new Set(flat.flatMap((f) => [...f.keys()]))].filter((f) => !IGNORED(f)).sort();
  return fields.filter((field) => {
    const byScope = new Map<string, Set<string>>();
    runs.forEach((r, i) => {
      const scope = field.startsWith('method.') ? r.scenario.method.name : '';
      const values = byScope.get(scope) ?? new Set<string>();
      values.add(JSON.stringify((flat[i] as Map<string, unknown>).get(field)) ?? 'undefined');
      byScope.set(scope, values);
    });
    return [...byScope.values()].some((v) => v.size > 1);
  });
}

export function groupRuns(all: readonly RunResult[]): Grouping {
  const finished = all.filter((r) => r.summary !== null);
  const unfinished = all.filter((r) => r.summary === null);
  const byContents = finished.every((r) => r.inputs !== null);
  const varying = varyingFields(finished, byContents);
  const byKey = new Map<string, Group>();
  const duplicates: RunResult[] = [];
  for (const run of finished) {
    const flat = fieldsOf(run, byContents);
    const s = run.scenario;
    const alpha = 'alpha' in s.partition && typeof s.partition.alpha === 'number' ? s.partition.alpha : null;
    // Method fields that a method does not have are left out of its label.
    const config = varying.filter((f) => flat.has(f)).map((f) => [configLabel(f), flat.get(f)] as [string, unknown]);
    const key = JSON.stringify([s.method.name, s.task.dataset, s.partition.family, alpha, config]);
    let group = byKey.get(key);
    if (!group) {
      group = { key, method: s.method.name, task: s.task.dataset, family: s.partition.family, alpha, config, runs: [], seeds: [], final: null, best: null, bestRound: null, lateGain: null, curve: [] };
      byKey.set(key, group);
    }
    if (group.seeds.includes(s.seed)) {
      duplicates.push(run);
      continue;
    }
    group.runs.push(run);
    group.seeds.push(s.seed);
  }
  const groups = [...byKey.values()];
  for (const g of groups) {
    g.runs.sort((a, b) => a.scenario.seed - b.scenario.seed);
    g.seeds = g.runs.map((r) => r.scenario.seed);
    const values = (pick: (s: NonNullable<RunResult['summary']>) => number | null) =>
      g.runs.map((r) => pick(r.summary as NonNullable<RunResult['summary']>)).filter((x): x is number => typeof x === 'number');
    g.final = stat(values((s) => s.finalAccuracy));
    g.best = stat(values((s) => s.bestAccuracy));
    g.bestRound = stat(values((s) => s.bestRound));
    g.lateGain = stat(g.runs.map((r) => lateGain(r.rounds)).filter((x): x is number => x !== null));
    const perRound = new Map<number, number[]>();
    for (const r of g.runs) for (const rec of r.rounds) if (typeof rec.accuracy === 'number') perRound.set(rec.round, [...(perRound.get(rec.round) ?? []), rec.accuracy]);
    g.curve = [...perRound.entries()].sort((a, b) => a[0] - b[0]).map(([round, accs]) => ({ round, accuracy: accs.reduce((s, x) => s + x, 0) / accs.length }));
  }
  groups.sort((a, b) => compareGroups(a, b));
  return { groups, varying, unfinished, duplicates };
}

function compareGroups(a: Group, b: Group): number {
  return (
    methodRank(a.method) - methodRank(b.method) ||
    a.method.localeCompare(b.method) ||
    a.task.localeCompare(b.task) ||
    a.family.localeCompare(b.family) ||
    compareValues(a.alpha ?? Infinity, b.alpha ?? Infinity) ||
    compareConfig(a.config, b.config)
  );
}

function compareConfig(a: Array<[string, unknown]>, b: Array<[string, unknown]>): number {
  for (let i = 0; i < Math.max(a.length, b.length); i++) {
    const x = a[i];
    const y = b[i];
    if (!x || !y) return x ? 1 : -1;
    const c = x[0].localeCompare(y[0]) || compareValues(x[1], y[1]);
    if (c !== 0) return c;
  }
  return 0;
}

export function configText(config: Array<[string, unknown]>): string {
  return config.map(([k, v]) => `${k}=${show(v)}`).join(' ');
}
