/**
 * The paper's claims as paired comparisons "a > b" (final accuracy on the same seed), tested
 * wherever a report holds both sides in the same context: the same task and partition and every
 * other varying setting equal, except the ones the claim itself names.
 */
import type { Group } from '../experiments/groups.js';
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

/** Every (claim, context) pair with at least two seeds on both sides. */
export function testClaims(groups: readonly Group[], claims: readonly Claim[] = PAPER_CLAIMS): ClaimResult[] {
  const out: ClaimResult[] = [];
  for (const claim of claims) {
    for (const a of groups.filter((g) => matches(g, claim.a))) {
      const b = groups.find((g) => g !== a && matches(g, claim.b) && sameContext(a, g, claim));
      if (!b) continue;
      const fa = finals(a);
      const fb = finals(b);
      const seeds = a.seeds.filter((s) => fb.has(s));
      const d = pairedDifference(seeds.map((s) => fa.get(s) as number), seeds.map((s) => fb.get(s) as number));
      if (d) out.push({ claim, a, b, difference: d, verdict: verdict(d) });
    }
  }
  return out;
}
