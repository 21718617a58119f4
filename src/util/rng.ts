import seedrandom from 'seedrandom';

/**
 * Seeded random streams. Every random draw in the simulator comes from a stream keyed by
 * (scenario seed, purpose, ...indices such as round and client id), so a draw never depends
 * on how many draws happened before it elsewhere: that is what makes runs independent of
 * worker count and completion order, and lets a resumed run need no saved RNG state.
 */
export class Rng {
  private readonly prng: seedrandom.PRNG;

  constructor(key: string) {
    this.prng = seedrandom.alea(key);
  }

  /** Uniform in [0, 1). */
  next(): number {
    return this.prng();
  }

  /** Uniform integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.prng() * n);
  }

  /** A 31-bit positive integer, never 0 (tfjs treats seed 0 as "unseeded"). */
  seed(): number {
    return 1 + Math.floor(this.prng() * 0x7ffffffe);
  }

  /** Standard normal (Box-Muller, the cosine branch only so each call uses two uniforms). */
  normal(): number {
    let u = this.prng();
    while (u <= 0) u = this.prng();
    const v = this.prng();
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
  }

  /** Gamma(shape, 1) by Marsaglia-Tsang, with the shape < 1 boost. */
  gamma(shape: number): number {
    if (!(shape > 0)) throw new RangeError(`gamma shape must be > 0, got ${shape}`);
    if (shape < 1) {
      let u = this.prng();
      while (u <= 0) u = this.prng();
      return this.gamma(shape + 1) * Math.pow(u, 1 / shape);
    }
    const d = shape - 1 / 3;
    const c = 1 / Math.sqrt(9 * d);
    for (;;) {
      let x: number;
      let v: number;
      do {
        x = this.normal();
        v = 1 + c * x;
      } while (v <= 0);
      v = v * v * v;
      const u = this.prng();
      if (u < 1 - 0.0331 * x * x * x * x) return d * v;
      if (Math.log(u) < 0.5 * x * x + d * (1 - v + Math.log(v))) return d * v;
    }
  }

  /** A draw from Dirichlet(alphas). */
  dirichlet(alphas: readonly number[]): number[] {
    const g = alphas.map((a) => this.gamma(a));
    const sum = g.reduce((s, x) => s + x, 0);
    return sum > 0 ? g.map((x) => x / sum) : alphas.map(() => 1 / alphas.length);
  }

  /** Fisher-Yates shuffle in place; returns the array. */
  shuffle<T>(items: T[]): T[] {
    for (let i = items.length - 1; i > 0; i--) {
      const j = this.int(i + 1);
      const t = items[i] as T;
      items[i] = items[j] as T;
      items[j] = t;
    }
    return items;
  }

  /** k distinct indices of [0, n), uniformly, in draw order. */
  sample(n: number, k: number): number[] {
    if (k > n) throw new RangeError(`cannot sample ${k} of ${n} without replacement`);
    const pool = Array.from({ length: n }, (_, i) => i);
    for (let i = 0; i < k; i++) {
      const j = i + this.int(n - i);
      const t = pool[i] as number;
      pool[i] = pool[j] as number;
      pool[j] = t;
    }
    return pool.slice(0, k);
  }
}

/** The stream for one purpose, e.g. stream(seed, 'sample', round) or stream(seed, 'train', round, client). */
export function stream(seed: number, purpose: string, ...indices: number[]): Rng {
  return new Rng([seed, purpose, ...indices].join('/'));
}
