/**
 * Paired comparisons over seeds: the same seed gives two methods the same partition and client
 * sampling, so their difference on it removes what the seeds share. With n seeds the 95 %
 * confidence interval of the mean difference is mean ± t(0.975, n - 1) * sd / sqrt(n).
 */

export interface PairedDifference {
  /** Seeds both sides ran. */
  n: number;
  mean: number;
  /** Sample standard deviation of the differences (n - 1). */
  sd: number;
  /** The 95 % confidence interval of the mean (t-distribution, n - 1 degrees of freedom). */
  lo: number;
  hi: number;
  /** Seeds on which the first side was above the second. */
  above: number;
}

/** What a paired interval says about a claim "a > b". */
export type Verdict = 'held' | 'refuted' | 'not separable';

/** ln Γ(x) for x > 0 (Lanczos, g = 7, n = 9): about 15 significant digits. */
function logGamma(x: number): number {
  const c = [0.99999999999980993, 676.5203681218851, -1259.1392167224028, 771.32342877765313, -176.61502916214059, 12.507343278686905, -0.13857109526572012, 9.9843695780195716e-6, 1.5056327351493116e-7];
  if (x < 0.5) return Math.log(Math.PI / Math.sin(Math.PI * x)) - logGamma(1 - x);
  const z = x - 1;
  let a = c[0] as number;
  const t = z + 7.5;
  for (let i = 1; i < 9; i++) a += (c[i] as number) / (z + i);
  return 0.5 * Math.log(2 * Math.PI) + (z + 0.5) * Math.log(t) - t + Math.log(a);
}

/** Continued fraction of the regularized incomplete beta function (modified Lentz). */
function betaFraction(a: number, b: number, x: number): number {
  const tiny = 1e-300;
  let c = 1;
  let d = 1 - ((a + b) * x) / (a + 1);
  d = 1 / (Math.abs(d) < tiny ? tiny : d);
  let h = d;
  for (let m = 1; m <= 300; m++) {
    const m2 = 2 * m;
    for (const num of [(m * (b - m) * x) / ((a + m2 - 1) * (a + m2)), (-(a + m) * (a + b + m) * x) / ((a + m2) * (a + m2 + 1))]) {
      d = 1 + num * d;
      d = 1 / (Math.abs(d) < tiny ? tiny : d);
      c = 1 + num / c;
      if (Math.abs(c) < tiny) c = tiny;
      h *= d * c;
    }
    if (Math.abs(d * c - 1) < 1e-15) break;
  }
  return h;
}

/** I_x(a, b), the regularized incomplete beta function. */
function incompleteBeta(x: number, a: number, b: number): number {
  if (x <= 0) return 0;
  if (x >= 1) return 1;
  const front = Math.exp(logGamma(a + b) - logGamma(a) - logGamma(b) + a * Math.log(x) + b * Math.log(1 - x));
  return x < (a + 1) / (a + b + 2) ? (front * betaFraction(a, b, x)) / a : 1 - (front * betaFraction(b, a, 1 - x)) / b;
}

/** P(T <= t) for Student's t with df degrees of freedom. */
export function studentTCdf(t: number, df: number): number {
  const tail = 0.5 * incompleteBeta(df / (df + t * t), df / 2, 0.5);
  return t >= 0 ? 1 - tail : tail;
}

/** The p-quantile of Student's t with df degrees of freedom (0 < p < 1), by bisection on the CDF. */
export function studentTQuantile(p: number, df: number): number {
  if (!(p > 0 && p < 1)) throw new RangeError(`studentTQuantile: p must be in (0, 1), got ${p}`);
  if (!(df > 0)) throw new RangeError(`studentTQuantile: df must be > 0, got ${df}`);
  let lo = -1;
  let hi = 1;
  while (studentTCdf(lo, df) > p) lo *= 2;
  while (studentTCdf(hi, df) < p) hi *= 2;
  for (let i = 0; i < 200 && hi - lo > 1e-12 * Math.max(1, Math.abs(hi)); i++) {
    const mid = (lo + hi) / 2;
    if (studentTCdf(mid, df) < p) lo = mid;
    else hi = mid;
  }
  return (lo + hi) / 2;
}

/** a[i] - b[i] over paired seeds; null with fewer than 2 pairs (no interval). */
export function pairedDifference(a: readonly number[], b: readonly number[]): PairedDifference | null {
  if (a.length !== b.length) throw new RangeError(`pairedDifference: ${a.length} against ${b.length} values`);
  const n = a.length;
  if (n < 2) return null;
  const d = a.map((x, i) => x - (b[i] as number));
  const mean = d.reduce((s, x) => s + x, 0) / n;
  const sd = Math.sqrt(d.reduce((s, x) => s + (x - mean) ** 2, 0) / (n - 1));
  const half = (studentTQuantile(0.975, n - 1) * sd) / Math.sqrt(n);
  return { n, mean, sd, lo: mean - half, hi: mean + half, above: d.filter((x) => x > 0).length };
}

/** "a > b" is held when the interval of a - b lies above 0, refuted when below, else not separable. */
export function verdict(d: PairedDifference): Verdict {
  if (d.lo > 0) return 'held';
  if (d.hi < 0) return 'refuted';
  return 'not separable';
}

/** "+1.23 [0.10, 2.36] (4/5 above)", in points for accuracies given as fractions. */
export function formatPaired(d: PairedDifference): string {
  const pts = (x: number) => (100 * x).toFixed(2);
  return `${d.mean >= 0 ? '+' : ''}${pts(d.mean)} [${pts(d.lo)}, ${pts(d.hi)}] (${d.above}/${d.n} above)`;
}
