/**
 * `fedpft report`: on a real tiny sweep (partition.alpha x 2 seeds) and on hand-made results
 * shaped like the paper's experiments (methods x tasks x alpha; FedPFT's t x p), the tables,
 * report.md and report.csv hold mean ± std over seeds computed here independently, and the SVGs
 * are well-formed with one line per configuration and one stacked bar per client.
 */
import { mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { labelCounts, partition } from '../src/data/partition.js';
import { loadTask } from '../src/data/registry.js';
import { parseScenario } from '../src/scenario/load.js';
import type { Scenario } from '../src/scenario/schema.js';
import { roundRecords, summaryOf } from './helpers/kit.js';
import { cli, makeTinyFm, tempDir, tinyScenario, writeScenario } from './helpers/tiny-run.js';
import { pairedReference } from '../src/report/tables.js';

interface Summary {
  finalAccuracy: number;
  bestAccuracy: number;
  bestRound: number;
}

const mean = (xs: number[]) => xs.reduce((s, x) => s + x, 0) / xs.length;
const sampleStd = (xs: number[]) => {
  const m = mean(xs);
  return Math.sqrt(xs.reduce((s, x) => s + (x - m) ** 2, 0) / (xs.length - 1));
};
/** A report cell: percentages with two decimals, "mean ± std" (mean alone for one seed). */
const cell = (xs: number[]) => (xs.length > 1 ? `${(100 * mean(xs)).toFixed(2)} ± ${(100 * sampleStd(xs)).toFixed(2)}` : (100 * mean(xs)).toFixed(2));

/** A minimal well-formedness check: tags balance and no element repeats an attribute. */
function checkXml(text: string): void {
  const stack: string[] = [];
  for (const m of text.matchAll(/<(\/?)([A-Za-z][\w-]*)([^>]*?)(\/?)>/g)) {
    const [, close, name, attrs, selfClose] = m as unknown as [string, string, string, string, string];
    const names = [...attrs.matchAll(/([\w:-]+)="[^"]*"/g)].map((a) => a[1]);
    expect(new Set(names).size, `${name}: repeated attribute in ${m[0]}`).toBe(names.length);
    if (close) expect(stack.pop(), `</${name}>`).toBe(name);
    else if (!selfClose) stack.push(name as string);
  }
  expect(stack).toEqual([]);
  expect(text.replace(/<[^>]*>/g, '')).not.toMatch(/[<>]|&(?!amp;|lt;|gt;|quot;|apos;)/);
}

/** Markdown table under a "## title" heading, as rows of cells. */
function mdTable(md: string, title: RegExp): string[][] {
  const at = md.split('\n').findIndex((l) => l.startsWith('## ') && title.test(l));
  expect(at, String(title)).toBeGreaterThanOrEqual(0);
  const lines: string[] = [];
  for (const line of md.split('\n').slice(at + 2)) {
    if (!line.startsWith('|')) break;
    lines.push(line);
  }
  return lines.filter((_, i) => i !== 1).map((l) => l.slice(2, -2).split(' | '));
}

function parseCsv(text: string): Array<Record<string, string>> {
  const [head, ...rows] = text.trim().split('\n').map((l) => l.split(','));
  return rows.map((r) => Object.fromEntries((head as string[]).map((h, i) => [h, r[i] ?? ''])));
}

let dir: string;

beforeAll(() => {
  dir = tempDir('report');
});

describe('fedpft report on a real sweep', () => {
  it('tables mean ± std over seeds per alpha, and draws accuracy per round and each partition', async () => {
    const fm = join(dir, 'fm');
    await makeTinyFm(fm);
    const file = writeScenario(dir, tinyScenario(fm, '  workers: 2\n').replace('rounds: 4', 'rounds: 2').replace('evalEvery: 2', 'evalEvery: 1').replace('clients: 12', 'clients: 6').replace('clientsPerRound: 4', 'clientsPerRound: 3'));
    const results = join(dir, 'results');
    const sweep = await cli(['sweep', file, '--set', 'partition.alpha=0.5,5', '--seeds', '2', '--results', results, '--no-report']);
    expect(sweep.code, sweep.stderr).toBe(0);
    const grid = join(results, 'tiny-sweep');
    const out = join(dir, 'out');
    const r = await cli(['report', grid, '--out', out]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('┌'); // cli-table3

    // Independently: each alpha's summaries over seeds 7 and 8.
    const byAlpha = new Map<number, Summary[]>();
    const runsOf = new Map<number, string[]>();
    for (const alpha of [0.5, 5]) {
      const names = [7, 8].map((seed) => `tiny__partition.alpha=${alpha}__seed=${seed}`);
      runsOf.set(alpha, names);
      byAlpha.set(alpha, names.map((n) => summaryOf<Summary>(join(grid, n))));
    }

    const csv = parseCsv(readFileSync(join(out, 'report.csv'), 'utf8'));
    expect(csv.map((row) => [row['method'], row['task'], row['partition_family'], row['partition_alpha'], row['n'], row['seeds']])).toEqual([
      ['fedpetuning', 'mnist', 'dirichlet', '0.5', '2', '7 8'],
      ['fedpetuning', 'mnist', 'dirichlet', '5', '2', '7 8'],
    ]);
    const md = readFileSync(join(out, 'report.md'), 'utf8');
    const finalTable = mdTable(md, /final round/);
    const bestTable = mdTable(md, /best round/);
    expect(finalTable[0]).toEqual(['method', 'mnist dirichlet α=0.5', 'mnist dirichlet α=5']);
    for (const [i, alpha] of [0.5, 5].entries()) {
      const s = byAlpha.get(alpha) as Summary[];
      const finals = s.map((x) => x.finalAccuracy);
      const bests = s.map((x) => x.bestAccuracy);
      const row = csv[i] as Record<string, string>;
      expect(Number(row['final_mean'])).toBeCloseTo(mean(finals), 12);
      expect(Number(row['final_std'])).toBeCloseTo(sampleStd(finals), 12);
      expect(Number(row['best_mean'])).toBeCloseTo(mean(bests), 12);
      expect(Number(row['best_std'])).toBeCloseTo(sampleStd(bests), 12);
      expect(finalTable[1]?.[i + 1]).toBe(cell(finals));
      expect(bestTable[1]?.[i + 1]).toBe(cell(bests));
      expect(r.stdout).toContain(cell(finals));
    }

    // accuracy.svg: one polyline per alpha through the per-round means over seeds.
    const acc = readFileSync(join(out, 'accuracy.svg'), 'utf8');
    checkXml(acc);
    expect(acc.match(/<polyline /g)).toHaveLength(2);
    for (const alpha of [0.5, 5]) {
      const rounds = (runsOf.get(alpha) as string[]).map((n) => roundRecords<{ round: number; accuracy: number }>(join(grid, n)));
      for (const round of [1, 2]) {
        const m = mean(rounds.map((rs) => (rs.find((x) => x.round === round) as { accuracy: number }).accuracy));
        expect(acc).toContain(`<title>fedpetuning, dirichlet α=${alpha} (n=2): round ${round}, ${(100 * m).toFixed(2)}%</title>`);
      }
    }

    // partition-<run>.svg: one per alpha (lowest seed), a stacked bar of label counts per client.
    const svgs = readdirSync(out).filter((f) => f.startsWith('partition-')).sort();
    expect(svgs).toEqual(['partition-tiny__partition.alpha=0.5__seed=7.svg', 'partition-tiny__partition.alpha=5__seed=7.svg']);
    const { train } = loadTask('mnist', { trainLimit: 480 });
    for (const alpha of [0.5, 5]) {
      const svg = readFileSync(join(out, `partition-tiny__partition.alpha=${alpha}__seed=7.svg`), 'utf8');
      checkXml(svg);
      const counts = labelCounts(partition(train.labels, 10, 6, { family: 'dirichlet', alpha }, 7), train.labels, 10);
      const bars = svg.split('<g class="bar">').slice(1);
      expect(bars).toHaveLength(6);
      bars.forEach((bar, client) => {
        const row = counts[client] as number[];
        expect(bar).toContain(`<title>${client}: ${row.reduce((s, x) => s + x, 0)}</title>`);
        const drawn = [...bar.split('</g>')[0]!.matchAll(/<rect [^>]*><title>(\d+): (\d+)<\/title>/g)].map((m) => [Number(m[1]), Number(m[2])]);
        expect(drawn).toEqual(row.map((c, k) => [k, c]).filter(([, c]) => (c as number) > 0));
      });
    }
  });
});

/** Hand-made finished runs: scenario.json as `fedpft run` writes it, rounds.jsonl and summary.json. */
interface FakeCost {
  /** Seconds per client step, split as 10 steps a round. */
  stepSeconds: number;
  macsRatio: number;
  bytesUpPerRound: number;
  bytesDownPerRound: number;
}

function fakeRun(root: string, name: string, scenario: Scenario, accuracies: number[], finished = true, cost: FakeCost = { stepSeconds: 0.1, macsRatio: 1, bytesUpPerRound: 1024, bytesDownPerRound: 1024 }): void {
  const runDir = join(root, name);
  mkdirSync(runDir, { recursive: true });
  writeFileSync(join(runDir, 'scenario.json'), JSON.stringify(scenario, null, 2));
  const round = (a: number, i: number) => ({ round: i + 1, lr: 0.01, clients: [0], meanTrainLoss: 1, accuracy: a, wallSeconds: 1, clientTrainSeconds: 10 * cost.stepSeconds, clientSteps: 10, bytesUp: cost.bytesUpPerRound, bytesDown: cost.bytesDownPerRound });
  writeFileSync(join(runDir, 'rounds.jsonl'), accuracies.map((a, i) => JSON.stringify(round(a, i)) + '\n').join(''));
  if (!finished) return;
  const best = accuracies.reduce((b, a, i) => (a > (accuracies[b] as number) ? i : b), 0);
  const summary = { scenario: scenario.name, runId: name, method: scenario.method.name, backend: 'wasm', rounds: accuracies.length, finalAccuracy: accuracies[accuracies.length - 1], bestAccuracy: accuracies[best], bestRound: best + 1, wallSeconds: 1, bytesUpTotal: cost.bytesUpPerRound * accuracies.length, bytesDownTotal: cost.bytesDownPerRound * accuracies.length, finalWeightsSha256: '0', methodInfo: { clientForwardMacsPerExample: 1000 * cost.macsRatio, fmForwardMacsPerExample: 1000 }, partition: { family: scenario.partition.family, alpha: null, seed: scenario.seed, classOrder: [] } };
  writeFileSync(join(runDir, 'summary.json'), JSON.stringify(summary, null, 2));
}

/** alpha 'iid' gives an IID partition; kernels the set the run records having run. */
function scenarioOf(seed: number, dataset: string, alpha: number | 'iid', method: string, kernels = 'exact'): Scenario {
  return parseScenario(
    `name: paper
seed: ${seed}
model: { dir: /nonexistent/fm }
task: { dataset: ${dataset} }
partition: ${alpha === 'iid' ? '{ family: iid }' : `{ family: dirichlet, alpha: ${alpha} }`}
federation: { clients: 10, clientsPerRound: 2, rounds: 3, learningRate: 0.01 }
method: ${method}
runtime: { kernels: ${kernels} }
`,
    'paper.yaml',
    { checkFiles: false },
  );
}

/** A claim row's "a - b" cell and verdict against a hand computation over 3 seeds' finals. */
function expectPaired(diff: string, v: string, a: readonly number[], b: readonly number[]): void {
  const d = a.map((x, k) => 100 * (x - (b[k] as number)));
  expect(d).toHaveLength(3);
  const mean = d.reduce((x, y) => x + y, 0) / 3;
  // 95 % interval with t(0.975, 2 degrees of freedom) = 4.302652729911275.
  const half = (4.302652729911275 * Math.sqrt(d.reduce((x, y) => x + (y - mean) ** 2, 0) / 2)) / Math.sqrt(3);
  expect(diff).toBe(`${mean >= 0 ? '+' : ''}${mean.toFixed(2)} [${(mean - half).toFixed(2)}, ${(mean + half).toFixed(2)}] (${d.filter((x) => x > 0).length}/3 above)`);
  expect(v).toBe(mean - half > 0 ? 'held' : mean + half < 0 ? 'refuted' : 'not separable');
}

/** Deterministic made-up accuracies that differ by every factor. */
const made = (...xs: number[]) => [0, 1, 2].map((r) => Number((0.3 + ((xs.reduce((s, x, i) => s + x * (i + 3) * 7919, r * 104729) % 997) / 997) * 0.6).toFixed(4)));

describe('fedpft report on paper-shaped results', () => {
  const METHODS = ['fedpetuning', 'fedot', 'fedpft', 'fedpft-n', 'fedpft-b', 'fedpft-d'];
  // Text tasks, so every proxy method can distil on one corpus apart from both (moby-dick).
  const TASKS = ['spam', 'sotu-party'];
  const ALPHAS = [0.1, 1];

  it('methods x (task, alpha) with the ablation table; unfinished runs are left out', async () => {
    const root = join(dir, 'paper');
    const finals = new Map<string, number[]>();
    METHODS.forEach((m, mi) =>
      TASKS.forEach((t, ti) =>
        ALPHAS.forEach((a, ai) => {
          for (const seed of [1, 2, 3]) {
            const accs = made(mi, ti, ai, seed);
            const distill = m === 'fedpetuning' ? '' : ', distill: { dataset: moby-dick }';
            const cost = { stepSeconds: 0.1 + 0.01 * mi + 0.001 * seed, macsRatio: 1 - 0.05 * mi, bytesUpPerRound: 1024 * (mi + 1), bytesDownPerRound: 2048 * (mi + 1) };
            fakeRun(join(root, 'grid'), `${m}-${t}-${a}-${seed}`, scenarioOf(seed, t, a, `{ name: ${m}${distill} }`), accs, true, cost);
            if (seed === 1) {
              // The process was stopped for 10 minutes during round 2: a median step ignores it.
              const file = join(root, 'grid', `${m}-${t}-${a}-${seed}`, 'rounds.jsonl');
              const rounds = readFileSync(file, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { clientTrainSeconds: number });
              (rounds[1] as { clientTrainSeconds: number }).clientTrainSeconds += 600;
              writeFileSync(file, rounds.map((r) => JSON.stringify(r) + '\n').join(''));
            }
            finals.set(`${m} ${t} ${a}`, [...(finals.get(`${m} ${t} ${a}`) ?? []), accs[2] as number]);
          }
        }),
      ),
    );
    fakeRun(join(root, 'grid'), 'unfinished', scenarioOf(9, 'spam', 1, '{ name: fedpft, distill: { dataset: moby-dick } }'), [0.99], false);
    const out = join(dir, 'paper-out');
    // Several directories: the grid and one run directory inside it (counted once).
    const r = await cli(['report', join(root, 'grid'), join(root, 'grid', 'fedot-spam-1-2'), '--out', out, '--no-partitions']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('72 finished runs in 24 configurations; 1 unfinished, left out: unfinished');
    const md = readFileSync(join(out, 'report.md'), 'utf8');

    const main = mdTable(md, /final round/);
    const columns = ['sotu-party dirichlet α=0.1', 'sotu-party dirichlet α=1', 'spam dirichlet α=0.1', 'spam dirichlet α=1'];
    expect(main[0]).toEqual(['method', ...columns]);
    expect(main.slice(1).map((row) => row[0])).toEqual(METHODS);
    for (const [i, m] of METHODS.entries()) {
      for (const [j, col] of columns.entries()) {
        const [, task, alpha] = /^(\S+) dirichlet α=(\S+)$/.exec(col) as unknown as [string, string, string];
        expect(main[i + 1]?.[j + 1], `${m} ${col}`).toBe(cell(finals.get(`${m} ${task} ${alpha}`) as number[]));
      }
    }
    const ablation = mdTable(md, /Ablation/);
    expect(ablation[0]).toEqual(['method', 'before FL', 'during FL', ...columns]);
    expect(ablation.slice(1).map((row) => row.slice(0, 3))).toEqual([
      ['fedpft-n', '-', '-'],
      ['fedpft-b', '✓', '-'],
      ['fedpft-d', '-', '✓'],
      ['fedpft', '✓', '✓'],
    ]);
    expect(ablation[4]?.[3]).toBe(cell(finals.get('fedpft sotu-party 0.1') as number[]));
    expect(md).not.toMatch(/t \(interval\)/);

    // Paired over seeds against FedPETuning, computed here from the per-seed finals.
    const paired = mdTable(md, /minus fedpetuning's on the same seed/);
    expect(paired[0]).toEqual(['method', ...columns]);
    expect(paired.slice(1).map((row) => row[0])).toEqual(METHODS.slice(1));
    for (const [i, m] of METHODS.slice(1).entries()) {
      for (const [j, col] of columns.entries()) {
        const [, task, alpha] = /^(\S+) dirichlet α=(\S+)$/.exec(col) as unknown as [string, string, string];
        const mine = finals.get(`${m} ${task} ${alpha}`) as number[];
        const ref = finals.get(`fedpetuning ${task} ${alpha}`) as number[];
        const d = mine.map((x, k) => 100 * (x - (ref[k] as number)));
        const mean = d.reduce((a, b) => a + b, 0) / d.length;
        const sd = Math.sqrt(d.reduce((a, b) => a + (b - mean) ** 2, 0) / (d.length - 1));
        // 95 % interval with t(0.975, 2 degrees of freedom) = 4.302652729911275.
        const half = (4.302652729911275 * sd) / Math.sqrt(3);
        const expected = `${mean >= 0 ? '+' : ''}${mean.toFixed(2)} [${(mean - half).toFixed(2)}, ${(mean + half).toFixed(2)}] (${d.filter((x) => x > 0).length}/3 above)`;
        expect(paired[i + 1]?.[j + 1], `${m} ${col}`).toBe(expected);
      }
    }

    // The paper's claims, by hand from the per-seed finals: one row per claim and column, then
    // Tables 2/3's skew claim (alpha 1 beats alpha 0.1) per method and task.
    const claims = mdTable(md, /The paper's claims/);
    expect(claims[0]).toEqual(['claim', 'a', 'b', 'context', 'a - b', 'verdict']);
    const pairs = [['fedpft', 'fedot'], ['fedpetuning', 'fedpft'], ['fedpft-b', 'fedpft-n'], ['fedpft-d', 'fedpft-n'], ['fedpft-b', 'fedpft-d'], ['fedpft', 'fedpft-b']];
    const skew = claims.slice(1).filter((row) => row[0]?.startsWith('Tables 2/3'));
    const methodClaims = claims.slice(1).filter((row) => !skew.includes(row));
    expect(methodClaims.map((row) => [row[1], row[2]])).toEqual(pairs.flatMap((pair) => columns.map(() => pair)));
    for (const row of methodClaims) {
      const [, a, b, context, diff, v] = row as [string, string, string, string, string, string];
      const [, task, alpha] = /^(\S+) dirichlet α=(\S+)$/.exec(context) as unknown as [string, string, string];
      expectPaired(diff, v, finals.get(`${a} ${task} ${alpha}`) as number[], finals.get(`${b} ${task} ${alpha}`) as number[]);
    }
    expect(skew.map((row) => [row[0], row[1], row[2], row[3]])).toEqual(
      METHODS.flatMap((m) => ['sotu-party', 'spam'].map((t) => ['Tables 2/3: less label skew is better (dirichlet α=1 > dirichlet α=0.1)', m, m, t])),
    );
    for (const [, m, , context, diff, v] of skew as Array<[string, string, string, string, string, string]>) {
      const task = context.split(' ')[0] as string;
      expectPaired(diff, v, finals.get(`${m} ${task} 1`) as number[], finals.get(`${m} ${task} 0.1`) as number[]);
    }

    // Costs: the median step over all rounds and seeds (10 steps a round), its ratio to FedPETuning's, MACs, KB per round.
    const costs = mdTable(md, /Client costs/);
    expect(costs[0]).toEqual(['method', 'task', 'partition', 'client step (ms)', "step / fedpetuning's", 'MACs ratio', 'KB up / round', 'KB down / round']);
    expect(costs).toHaveLength(1 + 24);
    for (const row of costs.slice(1)) {
      const mi = METHODS.indexOf(row[0] as string);
      // Seeds 1-3 add 0.001-0.003 s: the median of the 9 rounds' steps is seed 2's, 0.1 + 0.01 mi + 0.002 s.
      const step = 0.1 + 0.01 * mi + 0.002;
      expect(row.slice(3), row.join(' ')).toEqual([(1000 * step).toFixed(1), (step / 0.102).toFixed(3), (1 - 0.05 * mi).toFixed(3), (mi + 1).toFixed(1), (2 * (mi + 1)).toFixed(1)]);
    }

    const csv = parseCsv(readFileSync(join(out, 'report.csv'), 'utf8'));
    expect(csv).toHaveLength(24);
    expect(csv.every((row) => row['n'] === '3' && row['seeds'] === '1 2 3')).toBe(true);
    const svg = readFileSync(join(out, 'accuracy.svg'), 'utf8');
    checkXml(svg);
    expect(svg.match(/<polyline /g)).toHaveLength(24);
    expect(readdirSync(out).filter((f) => f.startsWith('partition-'))).toEqual([]);
  });

  it('FedPFT t x p: rows are intervals, columns proportions', async () => {
    const root = join(dir, 'tp');
    const finals = new Map<string, number[]>();
    for (const t of [5, 10, 20]) {
      for (const p of [0.3, 0.5]) {
        for (const seed of [1, 2]) {
          const accs = made(t, p * 10, seed);
          fakeRun(root, `t${t}-p${p}-s${seed}`, scenarioOf(seed, 'mnist', 0.5, `{ name: fedpft, interval: ${t}, proportion: ${p} }`), accs);
          finals.set(`${t} ${p}`, [...(finals.get(`${t} ${p}`) ?? []), accs[2] as number]);
        }
      }
    }
    const out = join(dir, 'tp-out');
    const r = await cli(['report', root, '--out', out, '--no-partitions']);
    expect(r.code, r.stderr).toBe(0);
    const md = readFileSync(join(out, 'report.md'), 'utf8');
    const tp = mdTable(md, /t \(interval\) x p \(proportion\): fedpft on mnist dirichlet α=0.5/);
    expect(tp[0]).toEqual(['t \\\\ p', '0.3', '0.5']);
    expect(tp.slice(1).map((row) => row[0])).toEqual(['5', '10', '20']);
    for (const [i, t] of [5, 10, 20].entries()) for (const [j, p] of [0.3, 0.5].entries()) expect(tp[i + 1]?.[j + 1]).toBe(cell(finals.get(`${t} ${p}`) as number[]));
    const main = mdTable(md, /final round/);
    expect(main.slice(1).map((row) => row[0])).toEqual(['fedpft interval=5 proportion=0.3', 'fedpft interval=5 proportion=0.5', 'fedpft interval=10 proportion=0.3', 'fedpft interval=10 proportion=0.5', 'fedpft interval=20 proportion=0.3', 'fedpft interval=20 proportion=0.5']);
    // Table 5's claims that this grid holds (no p = 0.8): t = 10 against 5 and 20, p = 0.5 against 0.3.
    const claims = mdTable(md, /The paper's claims/);
    expect(claims.slice(1).map((row) => [row[1], row[2]])).toEqual([
      ['fedpft interval=10 proportion=0.5', 'fedpft interval=5 proportion=0.5'],
      ['fedpft interval=10 proportion=0.5', 'fedpft interval=20 proportion=0.5'],
      ['fedpft interval=10 proportion=0.5', 'fedpft interval=10 proportion=0.3'],
    ]);
    const csv = parseCsv(readFileSync(join(out, 'report.csv'), 'utf8'));
    expect(Object.keys(csv[0] as object)).toEqual(['method', 'task', 'partition_family', 'partition_alpha', 'interval', 'proportion', 'n', 'seeds', 'final_mean', 'final_std', 'best_mean', 'best_std', 'best_round_mean', 'late_gain_mean']);
  });

  it('Tables 2/3 across grids and checkouts: IID > alpha 10 > alpha 1 on the same seed, and a note when kernel sets mix', async () => {
    const root = join(dir, 'skew');
    const finals = new Map<string, number[]>();
    const fm = (c: string) => ({ 'model.dir': c.repeat(64) });
    // Two grids, as the reference results have them: IID on the fast set from one checkout,
    // Dirichlet on exact from another (the same FM by contents under another path).
    for (const [ai, alpha] of (['iid', 10, 1] as const).entries()) {
      for (const seed of [1, 2, 3]) {
        const accs = made(ai, seed, 5);
        const scenario = scenarioOf(seed, 'mnist', alpha, '{ name: fedpetuning }', alpha === 'iid' ? 'fast' : 'exact');
        scenario.model.dir = alpha === 'iid' ? '/checkout-a/fm' : '/checkout-b/fm';
        // A run from before kernel sets names none: it ran the stock kernels, exact.
        if (alpha === 1 && seed === 3) delete (scenario.runtime as Partial<Scenario['runtime']>).kernels;
        const grid = join(root, alpha === 'iid' ? 'fast-grid' : 'exact-grid');
        fakeRun(grid, `a${alpha}-s${seed}`, scenario, accs);
        writeFileSync(join(grid, `a${alpha}-s${seed}`, 'environment.json'), JSON.stringify({ inputs: fm('a') }));
        finals.set(String(alpha), [...(finals.get(String(alpha)) ?? []), accs[2] as number]);
      }
    }
    // Another FM rebuilt in place under the first checkout's path: a configuration of its own.
    for (const seed of [1, 2, 3]) {
      const scenario = scenarioOf(seed, 'mnist', 10, '{ name: fedpetuning }');
      scenario.model.dir = '/checkout-a/fm';
      fakeRun(join(root, 'rebuilt'), `s${seed}`, scenario, made(7, seed));
      writeFileSync(join(root, 'rebuilt', `s${seed}`, 'environment.json'), JSON.stringify({ inputs: fm('b') }));
    }
    const out = join(dir, 'skew-out');
    const r = await cli(['report', join(root, 'fast-grid'), join(root, 'exact-grid'), join(root, 'rebuilt'), '--out', out, '--no-partitions']);
    expect(r.code, r.stderr).toBe(0);
    const md = readFileSync(join(out, 'report.md'), 'utf8');
    expect(md).toContain('kernel sets: fast (3 runs), exact (9 runs); a comparison across sets includes their rounding differences');
    expect(mdTable(md, /final round/).slice(1).map((row) => row[0])).toEqual([`fedpetuning model.dir=sha256:${'a'.repeat(12)}`, `fedpetuning model.dir=sha256:${'b'.repeat(12)}`]);
    const claims = mdTable(md, /The paper's claims/).slice(1);
    expect(claims.map((row) => row[0])).toEqual([
      'Tables 2/3: less label skew is better (iid > dirichlet α=10)',
      'Tables 2/3: less label skew is better (dirichlet α=10 > dirichlet α=1)',
      'Tables 2/3: less label skew is better (iid > dirichlet α=1)',
    ]);
    for (const [[, , , , diff, v], [a, b]] of claims.map((row, i) => [row, [['iid', '10'], ['10', '1'], ['iid', '1']][i] as string[]] as const)) {
      expectPaired(diff as string, v as string, finals.get(a as string) as number[], finals.get(b as string) as number[]);
    }
  });

  it('pairs against FedPETuning, else FedPFT-N (the ablation base), else the first method', () => {
    expect(pairedReference(['fedot', 'fedpft', 'fedpetuning'])).toBe('fedpetuning');
    expect(pairedReference(['fedpft', 'fedpft-b', 'fedpft-n'])).toBe('fedpft-n');
    expect(pairedReference(['fedot', 'fedpft'])).toBe('fedot');
  });

  it('a missing directory or one without runs is a one-line error (exit 2)', async () => {
    for (const path of [join(dir, 'nope'), dir + '/empty']) {
      mkdirSync(join(dir, 'empty'), { recursive: true });
      const r = await cli(['report', path]);
      expect(r.code).toBe(2);
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
      expect(r.stderr).toMatch(/directory not found|no runs found/);
    }
  });
});
