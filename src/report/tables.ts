/**
 * The tables of `fedpft report`, shaped like the paper's: methods x tasks (with alpha columns
 * when the partition varies), the FedPFT ablation, t x p, and one row per configuration. Each
 * table renders as cli-table3 text or Markdown; the per-configuration table also as CSV.
 * Accuracies are percentages, "mean ± std" over seeds (std: sample, n - 1; only the mean for n = 1).
 */
import Table from 'cli-table3';
import { compareValues, configLabel, configText, partitionLabel, type Group, type Grouping, type Stat } from '../experiments/groups.js';
import { testClaims, testSkewClaims, type ClaimResult } from './claims.js';
import { formatPaired, pairedDifference } from './paired.js';

export interface ReportTable {
  title: string;
  head: string[];
  rows: string[][];
}

export function formatStat(s: Stat | null): string {
  if (s === null) return '-';
  const mean = (100 * s.mean).toFixed(2);
  return s.std === null ? mean : `${mean} ± ${(100 * s.std).toFixed(2)}`;
}

/** What a FedPFT variant distils: before FL (sub-FM distillation) and during FL (alignment). */
const ABLATION: Record<string, [boolean, boolean]> = {
  'fedpft-n': [false, false],
  'fedpft-b': [true, false],
  'fedpft-d': [false, true],
  fedpft: [true, true],
};

function uniq<T>(xs: readonly T[]): T[] {
  return [...new Set(xs)];
}

/** Columns of the pivot tables: the task, and the partition when more than one occurs. */
function columnOf(grouping: Grouping): (g: Group) => string {
  const partitions = uniq(grouping.groups.map((g) => partitionLabel(g.family, g.alpha)));
  return partitions.length > 1 ? (g) => `${g.task} ${partitionLabel(g.family, g.alpha)}` : (g) => g.task;
}

function columnsInOrder(groups: readonly Group[], column: (g: Group) => string): string[] {
  const sorted = [...groups].sort((a, b) => a.task.localeCompare(b.task) || (a.alpha === null ? 1 : 0) - (b.alpha === null ? 1 : 0) || compareValues(a.alpha ?? 0, b.alpha ?? 0) || a.family.localeCompare(b.family));
  return uniq(sorted.map(column));
}

function rowLabel(g: Group, skip: readonly string[] = []): string {
  const rest = configText(g.config.filter(([k]) => !skip.includes(k)));
  return rest ? `${g.method} ${rest}` : g.method;
}

/** rows x columns, one cell per group (groups arrive sorted by method, then config). */
function pivot(title: string, groups: readonly Group[], column: (g: Group) => string, row: (g: Group) => string, cell: (g: Group) => string, corner = 'method'): ReportTable {
  const columns = columnsInOrder(groups, column);
  const rows = uniq(groups.map(row));
  const body = rows.map((r) => [r, ...columns.map((c) => {
    const g = groups.find((x) => row(x) === r && column(x) === c);
    return g ? cell(g) : '';
  })]);
  return { title, head: [corner, ...columns], rows: body };
}

export function buildTables(grouping: Grouping): ReportTable[] {
  const { groups } = grouping;
  if (groups.length === 0) return [];
  const column = columnOf(grouping);
  const tables: ReportTable[] = [
    pivot('Accuracy (%) at the final round, mean ± std over seeds', groups, column, (g) => rowLabel(g), (g) => formatStat(g.final)),
    pivot('Accuracy (%) at the best round, mean ± std over seeds', groups, column, (g) => rowLabel(g), (g) => formatStat(g.best)),
  ];

  const variants = groups.filter((g) => g.method in ABLATION);
  if (uniq(variants.map((g) => g.method)).length > 1) {
    const order = ['fedpft-n', 'fedpft-b', 'fedpft-d', 'fedpft'];
    const sorted = [...variants].sort((a, b) => order.indexOf(a.method) - order.indexOf(b.method));
    const t = pivot('Ablation: FedPFT distillation before / during FL, final accuracy (%)', sorted, column, (g) => rowLabel(g), (g) => formatStat(g.final));
    t.head.splice(1, 0, 'before FL', 'during FL');
    for (const r of t.rows) {
      const method = (r[0] as string).split(' ')[0] as string;
      const [before, during] = ABLATION[method] ?? [false, false];
      r.splice(1, 0, before ? '✓' : '-', during ? '✓' : '-');
    }
    tables.push(t);
  }

  // t x p, per method, task, partition and any other varying setting.
  const tp = groups.filter((g) => g.config.some(([k]) => k === 'interval' || k === 'proportion'));
  const scopes = uniq(tp.map((g) => JSON.stringify([g.method, g.task, g.family, g.alpha, g.config.filter(([k]) => k !== 'interval' && k !== 'proportion')])));
  for (const scope of scopes) {
    const members = tp.filter((g) => JSON.stringify([g.method, g.task, g.family, g.alpha, g.config.filter(([k]) => k !== 'interval' && k !== 'proportion')]) === scope);
    const first = members[0] as Group;
    // A setting that does not vary is not in the config: read it from the scenario.
    const setting = (g: Group, k: string): unknown => g.config.find(([key]) => key === k)?.[1] ?? (g.runs[0]?.scenario.method as Record<string, unknown> | undefined)?.[k];
    const ps = uniq(members.map((g) => setting(g, 'proportion'))).sort(compareValues);
    const ts = uniq(members.map((g) => setting(g, 'interval'))).sort(compareValues);
    const rest = configText(first.config.filter(([k]) => k !== 'interval' && k !== 'proportion'));
    const title = `t (interval) x p (proportion): ${first.method} on ${first.task} ${partitionLabel(first.family, first.alpha)}${rest ? ` ${rest}` : ''}, final accuracy (%)`;
    tables.push({
      title,
      head: ['t \\ p', ...ps.map(String)],
      rows: ts.map((t) => [String(t), ...ps.map((p) => formatStat(members.find((g) => setting(g, 'interval') === t && setting(g, 'proportion') === p)?.final ?? null))]),
    });
  }

  const paired = pairedTable(groups, column);
  if (paired) tables.push(paired);
  const claims = claimsTable(groups);
  if (claims) tables.push(claims);
  const costs = costTable(groups);
  if (costs) tables.push(costs);
  tables.push(longTable(grouping));
  return tables;
}

/**
 * The reference of the paired table: FedPETuning (the full-model line the paper compares to),
 * else FedPFT-N (no distillation, the ablation's base), else the first method.
 */
export function pairedReference(methods: readonly string[]): string {
  return ['fedpetuning', 'fedpft-n'].find((m) => methods.includes(m)) ?? (methods[0] as string);
}

/**
 * Final accuracy minus the reference method's on the same seed (so on the same partition and
 * client sampling), in points: with a few seeds, the spread between seeds is often larger than
 * the spread between methods, and pairing removes the shared part. Needs 2 seeds in common.
 */
function pairedTable(groups: readonly Group[], column: (g: Group) => string): ReportTable | null {
  const ref = pairedReference(uniq(groups.map((g) => g.method)));
  const finalBySeed = (g: Group) => new Map(g.runs.map((r) => [r.scenario.seed, r.summary?.finalAccuracy ?? NaN]));
  // A reference group matches when it is in the same column and shares every setting it has.
  const referenceOf = (g: Group) =>
    groups.find((r) => r.method === ref && column(r) === column(g) && r.config.every(([k, v]) => g.config.some(([k2, v2]) => k2 === k && JSON.stringify(v2) === JSON.stringify(v))));
  const cells = new Map<Group, string>();
  for (const g of groups) {
    const r = g.method === ref ? undefined : referenceOf(g);
    if (!r) continue;
    const mine = finalBySeed(g);
    const theirs = finalBySeed(r);
    const seeds = g.seeds.filter((seed) => theirs.has(seed));
    const d = pairedDifference(seeds.map((s) => mine.get(s) as number), seeds.map((s) => theirs.get(s) as number));
    if (d) cells.set(g, formatPaired(d));
  }
  if (cells.size === 0) return null;
  const members = groups.filter((g) => cells.has(g));
  return pivot(`Final accuracy minus ${ref}'s on the same seed (points): mean [95 % CI, t over seeds], and how many seeds were above`, members, column, (g) => rowLabel(g), (g) => cells.get(g) ?? '');
}

/** The paper's claims that this report's groups can test, one row per claim and context. */
function claimsTable(groups: readonly Group[]): ReportTable | null {
  const results = [...testClaims(groups), ...testSkewClaims(groups)];
  if (results.length === 0) return null;
  // What both sides share: a skew claim's sides differ in their partition, which its name gives.
  const context = (r: ClaimResult) => [r.a.task, r.acrossPartitions ? '' : partitionLabel(r.a.family, r.a.alpha), configText(r.a.config)].filter((x) => x).join(' ');
  return {
    title: "The paper's claims: final accuracy of a minus b on the same seed (points), mean [95 % CI]; held when the interval is above 0, refuted when below",
    head: ['claim', 'a', 'b', 'context', 'a - b', 'verdict'],
    rows: results.map((r) => [r.claim.source, rowLabel(r.a), rowLabel(r.b), context(r), formatPaired(r.difference), r.verdict]),
  };
}

/**
 * A group's client optimiser step (seconds): the median over its runs' rounds of each round's
 * training time per step. A median, because a round's wall clock also holds whatever stopped the
 * process meanwhile (a suspended job, a busy machine), and one such round would move a mean.
 */
function stepSeconds(g: Group): number | null {
  const perRound = g.runs.flatMap((r) => r.rounds.filter((rec) => (rec.clientSteps ?? 0) > 0).map((rec) => rec.clientTrainSeconds / (rec.clientSteps as number))).sort((a, b) => a - b);
  if (perRound.length === 0) return null;
  const mid = perRound.length >> 1;
  return perRound.length % 2 ? (perRound[mid] as number) : ((perRound[mid - 1] as number) + (perRound[mid] as number)) / 2;
}

/**
 * What each configuration costs a client: its measured step time (and as a share of the
 * reference method's on the same task and partition), the forward multiply-adds of its model
 * against the full FM's, and the bytes it moves per round. Step times are wall-clock
 * measurements of the machine the runs ran on, with whatever else ran there.
 */
function costTable(groups: readonly Group[]): ReportTable | null {
  const timed = groups.filter((g) => stepSeconds(g) !== null);
  if (timed.length === 0) return null;
  const ref = pairedReference(uniq(timed.map((g) => g.method)));
  const sameCell = (a: Group, b: Group) => a.task === b.task && a.family === b.family && a.alpha === b.alpha;
  const perRound = (g: Group, pick: (s: NonNullable<Group['runs'][number]['summary']>) => number) =>
    g.runs.reduce((s, r) => s + (r.summary ? pick(r.summary) / r.summary.rounds : 0), 0) / g.runs.length / 1024;
  const macs = (g: Group): number | null => {
    const info = g.runs[0]?.summary?.methodInfo as Record<string, unknown> | undefined;
    const client = info?.['clientForwardMacsPerExample'];
    const fm = info?.['fmForwardMacsPerExample'];
    return typeof client === 'number' && typeof fm === 'number' && fm > 0 ? client / fm : null;
  };
  return {
    title: `Client costs: measured step time (and its ratio to ${ref}'s), forward MACs against the full FM's, traffic per round`,
    head: ['method', 'task', 'partition', 'client step (ms)', `step / ${ref}'s`, 'MACs ratio', 'KB up / round', 'KB down / round'],
    rows: timed.map((g) => {
      const step = stepSeconds(g) as number;
      const r = timed.find((x) => x.method === ref && sameCell(x, g));
      const refStep = r ? stepSeconds(r) : null;
      const m = macs(g);
      return [
        rowLabel(g),
        g.task,
        partitionLabel(g.family, g.alpha),
        (1000 * step).toFixed(1),
        refStep ? (step / refStep).toFixed(3) : '-',
        m === null ? '-' : m.toFixed(3),
        perRound(g, (s) => s.bytesUpTotal).toFixed(1),
        perRound(g, (s) => s.bytesDownTotal).toFixed(1),
      ];
    }),
  };
}

/** One row per configuration. */
function longTable(grouping: Grouping): ReportTable {
  const labels = grouping.varying.map(configLabel);
  return {
    title: 'All configurations (late gain: the best accuracy of the last 20 % of evaluated rounds minus the best before them; under 0.3 points counts as a plateau)',
    head: ['method', 'task', 'partition', ...labels, 'n', 'seeds', 'final acc (%)', 'best acc (%)', 'best round', 'late gain (pts)'],
    rows: grouping.groups.map((g) => [
      g.method,
      g.task,
      partitionLabel(g.family, g.alpha),
      ...labels.map((l) => {
        const v = g.config.find(([k]) => k === l);
        return v === undefined ? '' : typeof v[1] === 'string' ? v[1] : JSON.stringify(v[1]);
      }),
      String(g.runs.length),
      g.seeds.join(' '),
      formatStat(g.final),
      formatStat(g.best),
      g.bestRound === null ? '-' : g.bestRound.mean.toFixed(1),
      formatStat(g.lateGain),
    ]),
  };
}

export function renderCli(t: ReportTable): string {
  const table = new Table({ head: t.head, style: { head: [], border: [] } });
  for (const r of t.rows) table.push(r);
  return `${t.title}\n${table.toString()}`;
}

function mdCell(text: string): string {
  return text.replace(/\\/g, '\\\\').replace(/\|/g, '\\|').replace(/\n/g, ' ');
}

export function renderMarkdown(t: ReportTable): string {
  const line = (cells: readonly string[]) => `| ${cells.map(mdCell).join(' | ')} |`;
  return [`## ${t.title}`, '', line(t.head), line(t.head.map(() => '---')), ...t.rows.map(line), ''].join('\n');
}

function csvCell(value: string | number | null): string {
  if (value === null) return '';
  const text = String(value);
  return /[",\n\r]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}

/** The per-configuration table with full-precision fractions (not percentages) for further analysis. */
export function renderCsv(grouping: Grouping): string {
  const labels = grouping.varying.map(configLabel);
  const head = ['method', 'task', 'partition_family', 'partition_alpha', ...labels, 'n', 'seeds', 'final_mean', 'final_std', 'best_mean', 'best_std', 'best_round_mean', 'late_gain_mean'];
  const rows = grouping.groups.map((g) => [
    g.method,
    g.task,
    g.family,
    g.alpha,
    ...labels.map((l) => {
      const v = g.config.find(([k]) => k === l);
      return v === undefined ? null : typeof v[1] === 'string' ? v[1] : JSON.stringify(v[1]);
    }),
    g.runs.length,
    g.seeds.join(' '),
    g.final?.mean ?? null,
    g.final?.std ?? null,
    g.best?.mean ?? null,
    g.best?.std ?? null,
    g.bestRound?.mean ?? null,
    g.lateGain?.mean ?? null,
  ]);
  return [head, ...rows].map((r) => r.map(csvCell).join(',')).join('\n') + '\n';
}

/** Groups in the order methods are compared (for legends). */
export function groupLabel(g: Group, grouping: Grouping): string {
  const tasks = uniq(grouping.groups.map((x) => x.task));
  const partitions = uniq(grouping.groups.map((x) => partitionLabel(x.family, x.alpha)));
  const parts = [rowLabel(g)];
  if (tasks.length > 1) parts.push(g.task);
  if (partitions.length > 1) parts.push(partitionLabel(g.family, g.alpha));
  return parts.join(', ');
}
