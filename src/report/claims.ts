/**
 * The paper's claims as paired comparisons "a > b" (final accuracy on the same seed), tested
 * wherever a report holds both sides in the same context: the same task and partition and every
 * other varying setting equal, except the ones the claim itself names. Tables 2/3's claim
 * (accuracy falls as label skew grows) compares one method across partitions instead.
 */
import { partitionLabel, type Group } from '../experiments/groups.js';
import { pairedDifference, verdict, type PairedDifference, type Verdict } from './paired.js';

/** One side of a claim: a method, and setting values it must have (labels as Group.config's). */
export interface Side {
  method: string;
  settings?: Record<string, unknown>;
}

export interface Claim {
  /** Where the paper makes it. */
  source: string;
  a: Side;
  b: Side;
}

const at = (method: string, settings?: Record<string, unknown>): Side => ({ method, ...(settings ? { settings } : {}) });

/** The paper's tables 1-5 (IJCAI 2024): orderings read off its numbers and its text. */
export const PAPER_CLAIMS: readonly Claim[] = [
  { source: 'Tables 1-3: FedPFT beats FedOT', a: at('fedpft'), b: at('fedot') },
  { source: 'Tables 1-3: FedPETuning (full FM) is the upper line', a: at('fedpetuning'), b: at('fedpft') },
  { source: 'Table 4: alignment before FL helps (B > N)', a: at('fedpft-b'), b: at('fedpft-n') },
  { source: 'Table 4: alignment during FL helps (D > N)', a: at('fedpft-d'), b: at('fedpft-n') },
  { source: 'Table 4: before FL matters more (B > D)', a: at('fedpft-b'), b: at('fedpft-d') },
  { source: 'Table 4: both together are best (FedPFT > B)', a: at('fedpft'), b: at('fedpft-b') },
  { source: 'Table 5: t = 10 beats t = 5 (p = 0.5)', a: at('fedpft', { interval: 10, proportion: 0.5 }), b: at('fedpft', { interval: 5, proportion: 0.5 }) },
  { source: 'Table 5: t = 10 beats t = 20 (p = 0.5)', a: at('fedpft', { interval: 10, proportion: 0.5 }), b: at('fedpft', { interval: 20, proportion: 0.5 }) },
  { source: 'Table 5: p = 0.5 beats p = 0.3 (t = 10)', a: at('fedpft', { interval: 10, proportion: 0.5 }), b: at('fedpft', { interval: 10, proportion: 0.3 }) },
  { source: 'Table 5: p = 0.5 beats p = 0.8 (t = 10)', a: at('fedpft', { interval: 10, proportion: 0.5 }), b: at('fedpft', { interval: 10, proportion: 0.8 }) },
];

export interface ClaimResult {
  claim: Claim;
  /** The groups compared. */
  a: Group;
  b: Group;
  difference: PairedDifference;
  verdict: Verdict;
  /** The sides differ in their partition (Tables 2/3), not in their method or settings. */
  acrossPartitions: boolean;
}

function matches(g: Group, side: Side): boolean {
  if (g.method !== side.method) return false;
  return Object.entries(side.settings ?? {}).every(([k, v]) => JSON.stringify(g.config.find(([key]) => key === k)?.[1]) === JSON.stringify(v));
}

/** Same task, partition and every setting except the ones either side of the claim fixes. */
function sameContext(a: Group, b: Group, claim: Claim): boolean {
  if (a.task !== b.task || a.family !== b.family || a.alpha !== b.alpha) return false;
  const named = new Set([...Object.keys(claim.a.settings ?? {}), ...Object.keys(claim.b.settings ?? {})]);
  const rest = (g: Group) => JSON.stringify(g.config.filter(([k]) => !named.has(k)).sort(([x], [y]) => x.localeCompare(y)));
  return rest(a) === rest(b);
}

function finals(g: Group): Map<number, number> {
  return new Map(g.runs.map((r) => [r.scenario.seed, r.summary?.finalAccuracy ?? NaN]));
}

function compare(claim: Claim, a: Group, b: Group, acrossPartitions = false): ClaimResult | null {
  const fa = finals(a);
  const fb = finals(b);
  const seeds = a.seeds.filter((s) => fb.has(s));
  const d = pairedDifference(seeds.map((s) => fa.get(s) as number), seeds.map((s) => fb.get(s) as number));
  return d ? { claim, a, b, difference: d, verdict: verdict(d), acrossPartitions } : null;
}

/**
 * How skewed a partition's labels are, least first: IID, then Dirichlet by falling alpha
 * (smaller alpha, fewer classes per client). Other families have no place on this scale.
 */
function skewRank(g: Group): number | null {
  if (g.family === 'iid') return -Infinity;
  if (g.family === 'dirichlet' && g.alpha !== null) return -g.alpha;
  return null;
}

/**
 * Tables 2/3: for each method, task and setting, every partition beats the next more skewed
 * one on the same seed (the seed fixes initialisation and client sampling; the partitions
 * differ), and the least skewed beats the most skewed when there are more than two.
 */
export function testSkewClaims(groups: readonly Group[]): ClaimResult[] {
  const scopes = new Map<string, Group[]>();
  for (const g of groups) {
    if (skewRank(g) === null) continue;
    const scope = JSON.stringify([g.method, g.task, [...g.config].sort(([x], [y]) => x.localeCompare(y))]);
    scopes.set(scope, [...(scopes.get(scope) ?? []), g]);
  }
  const out: ClaimResult[] = [];
  for (const members of scopes.values()) {
    const ordered = [...members].sort((x, y) => (skewRank(x) as number) - (skewRank(y) as number));
    const pairs = ordered.slice(1).map((b, i) => [ordered[i] as Group, b] as const);
    if (ordered.length > 2) pairs.push([ordered[0] as Group, ordered[ordered.length - 1] as Group]);
    for (const [a, b] of pairs) {
      const label = (g: Group) => partitionLabel(g.family, g.alpha);
      const claim: Claim = { source: `Tables 2/3: less label skew is better (${label(a)} > ${label(b)})`, a: at(a.method), b: at(b.method) };
      const r = compare(claim, a, b, true);
      if (r) out.push(r);
    }
  }
  return out;
}

/** Every (claim, context) pair with at least two seeds on both sides. */
export function testClaims(groups: readonly Group[], claims: readonly Claim[] = PAPER_CLAIMS): ClaimResult[] {
  const out: ClaimResult[] = [];
  for (const claim of claims) {
    for (const a of groups.filter((g) => matches(g, claim.a))) {
      const b = groups.find((g) => g !== a && matches(g, claim.b) && sameContext(a, g, claim));
      const r = b ? compare(claim, a, b) : null;
      if (r) out.push(r);
    }
  }
  return out;
}
