import type { z } from 'zod';
import { int, nonNegative, positive } from '../scenario/fields.js';
import { UserError } from '../util/errors.js';
import { stream, type Rng } from '../util/rng.js';

export interface Partition {
  family: string;
  alpha: number | null;
  /** Sigma of the log-normal client sizes, 0 for near-equal sizes; null where sizes follow the draws (dirichlet-per-class). */
  imbalance: number | null;
  seed: number;
  /** Classes in the order the draws visited them: the classes present, ascending. */
  classOrder: number[];
  /**
   * dirichlet: mixes[c][k] = client c's drawn share of class k (0 for absent classes), what its
   * label counts follow to within rounding; null for the other families.
   */
  mixes: number[][] | null;
  /** clients[c] = sorted indices into the train set. */
  clients: number[][];
}

/** dirichlet-per-class redraws until every client reaches minSize; NIID-Bench would loop forever. */
const MAX_TRIES = 1000;

// Sub-stream ids under stream(seed, 'partition', ...) for the dirichlet family and client sizes.
const CLIENT = 0;
const POOL = 1;
const REDRAW = 2;
const SIZES = 3;

/**
 * FLGo's tolerance on the squared distance between the size-weighted mean of the client mixes and
 * q, and its growth, x10 every GROWTH_INTERVAL tries, for draws that cannot get that close (few
 * clients, many classes, tiny alphas): the distance is at most 2, so the tries end within 7
 * intervals.
 */
const ERROR_BAR = 1e-6;
const GROWTH_INTERVAL = 500;

function byClass(labels: Int32Array, numClasses: number): number[][] {
  const members: number[][] = Array.from({ length: numClasses }, () => []);
  labels.forEach((label, i) => {
    if (label < 0 || label >= numClasses) throw new RangeError(`label ${label} at ${i} is outside [0, ${numClasses})`);
    (members[label] as number[]).push(i);
  });
  return members;
}

/** Sizes that sum to n and differ by at most one; the first n % k clients get the extra one. */
function nearEqualSizes(n: number, k: number): number[] {
  return Array.from({ length: k }, (_, i) => Math.floor(n / k) + (i < n % k ? 1 : 0));
}

/**
 * Client sizes: near-equal for sigma 0; otherwise FLGo's log-normal sizes, LogNormal(mu, sigma)
 * with mu = ln(n/N) - sigma^2/2 so that their mean is n/N. FLGo forces the draws to sum to n by
 * re-drawing or trimming the largest and smallest clients, which reshapes the tails; here they are
 * rescaled instead: each client gets 1 example plus its share of the other n - N in proportion to
 * its draw (systematic rounding), so sizes sum to n, every client has one, and their mean is
 * exactly n/N. The scale e^mu cancels in the shares, and working with sigma * z - max keeps a
 * large sigma from overflowing.
 */
function clientSizes(n: number, numClients: number, sigma: number, seed: number): number[] {
  if (sigma === 0) return nearEqualSizes(n, numClients);
  const rng = stream(seed, 'partition', SIZES);
  const logs = Array.from({ length: numClients }, () => sigma * rng.normal());
  const top = Math.max(...logs);
  return apportion(n - numClients, logs.map((l) => Math.exp(l - top)), rng.next()).map((share) => share + 1);
}

function checkClients(n: number, numClients: number): void {
  if (!Number.isInteger(numClients) || numClients < 1) {
    throw new UserError('scenario', 'clients', `expected a positive integer, got ${numClients}`);
  }
  if (numClients > n) throw new UserError('scenario', 'clients', `${numClients} clients but only ${n} training examples`);
}

// Specs built in code skip the scenario schema; these checks give them its one-line errors.
function checkImbalance(imbalance: number | undefined): void {
  if (imbalance !== undefined && !(imbalance >= 0 && Number.isFinite(imbalance))) {
    throw new UserError('scenario', 'partition.imbalance', `expected a finite number >= 0, got ${imbalance}`);
  }
}

function checkAlpha(alpha: number): void {
  if (!(alpha > 0) || !Number.isFinite(alpha)) throw new UserError('scenario', 'partition.alpha', `expected a finite number > 0, got ${alpha}`);
}

function iid(sizes: number[], seed: number): number[][] {
  const n = sizes.reduce((s, x) => s + x, 0);
  const order = stream(seed, 'partition').shuffle(Array.from({ length: n }, (_, i) => i));
  let start = 0;
  return sizes.map((size) => order.slice(start, (start += size)));
}

/**
 * Splits `total` into integers proportional to `weights` by systematic rounding with offset u in
 * [0,1): count_k = floor(C_k + u) - floor(C_{k-1} + u), C_k the cumulative exact share. Each count
 * is the floor or ceiling of its exact share, zero weights get nothing, the counts sum to
 * `total`, and over a uniform u each count's mean is its exact share. Deterministic rounding
 * (largest remainder) would instead hand every class's odd examples to the same clients, the ones
 * whose exact shares happen to have the larger fractions.
 */
function apportion(total: number, weights: number[], u: number): number[] {
  const sum = weights.reduce((s, w) => s + w, 0);
  const last = weights.reduce((at, w, k) => (w > 0 ? k : at), -1);
  let partial = 0;
  let reached = 0;
  return weights.map((w, k) => {
    partial += w;
    const cumulative = k >= last ? total : (total * partial) / sum;
    const upTo = Math.floor(cumulative + u);
    const count = upTo - reached;
    reached = upTo;
    return count;
  });
}

/** ln Gamma(shape, 1) draw; below shape 1 by the same boost as Rng.gamma, kept in logs where it underflows. */
function logGammaDraw(rng: Rng, shape: number): number {
  if (shape >= 1) return Math.log(rng.gamma(shape));
  let u = rng.next();
  while (u <= 0) u = rng.next();
  return Math.log(rng.gamma(shape + 1)) + Math.log(u) / shape;
}

/**
 * A Dir(concentration) draw that stays a distribution at tiny concentrations: there the gamma
 * draws underflow to zero (NumPy then gives NaN, which FLGo re-draws; Rng.dirichlet falls back to
 * uniform, which no small alpha should give). Normalising in logs keeps the largest component, and
 * where even the logs underflow the draw takes its limit, a single class picked with probability
 * proportional to its concentration.
 */
function drawMix(rng: Rng, concentration: readonly number[]): number[] {
  const logs = concentration.map((a) => logGammaDraw(rng, a));
  const top = Math.max(...logs);
  if (top === -Infinity) {
    let u = rng.next() * concentration.reduce((s, a) => s + a, 0);
    const pick = concentration.findIndex((a) => (u -= a) < 0);
    return concentration.map((_, k) => (k === (pick < 0 ? concentration.length - 1 : pick) ? 1 : 0));
  }
  const g = logs.map((l) => Math.exp(l - top));
  const sum = g.reduce((s, x) => s + x, 0);
  return g.map((x) => x / sum);
}

/** Squared distance between q and the size-weighted mean mix, given the weighted sums. */
function mixError(weighted: readonly number[], n: number, q: readonly number[]): number {
  return q.reduce((s, qk, k) => s + ((weighted[k] as number) / n - qk) ** 2, 0);
}

function weightedSums(mixes: readonly number[][], sizes: readonly number[], numClasses: number): number[] {
  const sums = new Array<number>(numClasses).fill(0);
  mixes.forEach((mix, i) => mix.forEach((p, k) => (sums[k] = (sums[k] as number) + p * (sizes[i] as number))));
  return sums;
}

/**
 * FLGo's re-draw loop: until the size-weighted mean of the mixes is within the error bar of q,
 * client t mod N (try t) is offered N fresh Dir(alpha * q) draws (stream ..., REDRAW, t) and takes
 * the one that brings the mean closest to q, if any brings it closer. Only then can every class
 * cover what the mixes ask of it, so that each client can be given its own draw.
 */
function matchGlobalMix(mixes: number[][], sizes: readonly number[], q: readonly number[], concentration: readonly number[], seed: number): void {
  const n = sizes.reduce((s, x) => s + x, 0);
  let weighted = weightedSums(mixes, sizes, q.length);
  let error = mixError(weighted, n, q);
  for (let t = 0; error > ERROR_BAR * 10 ** Math.floor(t / GROWTH_INTERVAL); t++) {
    const i = t % mixes.length;
    const size = sizes[i] as number;
    const own = mixes[i] as number[];
    const rest = weighted.map((w, k) => w - size * (own[k] as number));
    const rng = stream(seed, 'partition', REDRAW, t);
    let best: number[] | null = null;
    for (let j = 0; j < mixes.length; j++) {
      const candidate = drawMix(rng, concentration);
      const e = mixError(rest.map((r, k) => r + size * (candidate[k] as number)), n, q);
      if (e < error) [best, error] = [candidate, e];
    }
    if (best) {
      mixes[i] = best;
      weighted = weightedSums(mixes, sizes, q.length);
      error = mixError(weighted, n, q);
    }
  }
}

/**
 * Rounding each class on its own leaves client sizes off their targets by a few examples. Moving
 * single examples of one class, from the client furthest over its size to the one furthest under,
 * in the class where that moves both nearest their drawn counts, restores the sizes and keeps the
 * counts within about an example of the draws.
 */
function restoreSizes(counts: number[][], targets: readonly number[][], sizes: readonly number[]): void {
  const excess = counts.map((row, i) => row.reduce((s, x) => s + x, 0) - (sizes[i] as number));
  for (;;) {
    let over = 0;
    let under = 0;
    excess.forEach((e, i) => {
      if (e > (excess[over] as number)) over = i;
      if (e < (excess[under] as number)) under = i;
    });
    if (!((excess[over] as number) > 0)) return;
    const from = counts[over] as number[];
    const to = counts[under] as number[];
    const fromTarget = targets[over] as number[];
    const toTarget = targets[under] as number[];
    let k = -1;
    let gain = -Infinity;
    from.forEach((x, j) => {
      const g = x - (fromTarget[j] as number) - ((to[j] as number) - (toTarget[j] as number));
      if (x > 0 && g > gain) [k, gain] = [j, g];
    });
    from[k] = (from[k] as number) - 1;
    to[k] = (to[k] as number) + 1;
    excess[over] = (excess[over] as number) - 1;
    excess[under] = (excess[under] as number) + 1;
  }
}

/**
 * Label skew after Hsu et al. (2019), as FedPFT takes it from FLGo's DirichletPartitioner:
 * 1. q = the global label distribution over classOrder (the classes present, ascending);
 * 2. client i draws its label mix p_i ~ Dir(alpha * q) (stream ..., CLIENT, i; see drawMix);
 * 3. the mixes are re-drawn until their size-weighted mean matches q (see matchGlobalMix);
 * 4. each class's indices are shuffled (stream ..., POOL, class) and cut into consecutive runs,
 *    one per client, of lengths apportioned to p_i[class] * size_i (systematic rounding, offset
 *    from the same stream), so every example is used once;
 * 5. where FLGo stops, with sizes a few examples off their targets, single examples are moved
 *    to restore them (see restoreSizes).
 * Filling clients one after another from the class pools would give the early clients their
 * draws and the last ones whatever the pools have left. Splitting each class over all clients at
 * once gives every client its draw to within about an example per class, as long as the classes
 * hold what the draws ask of them, which is what step 3 is for. Apportioning rather than sampling
 * each example's class adds no multinomial noise to the Dirichlet skew.
 */
function dirichlet(members: number[][], classOrder: number[], sizes: number[], alpha: number, seed: number): { clients: number[][]; mixes: number[][] } {
  const n = sizes.reduce((s, x) => s + x, 0);
  const q = classOrder.map((c) => (members[c] as number[]).length / n);
  const concentration = q.map((qk) => alpha * qk);
  const mixes = sizes.map((_, i) => drawMix(stream(seed, 'partition', CLIENT, i), concentration));
  matchGlobalMix(mixes, sizes, q, concentration, seed);
  const targets = mixes.map((mix, i) => mix.map((p) => p * (sizes[i] as number)));
  const counts: number[][] = sizes.map(() => new Array<number>(classOrder.length).fill(0));
  const pools = classOrder.map((c, k) => {
    const rng = stream(seed, 'partition', POOL, c);
    const pool = rng.shuffle([...(members[c] as number[])]);
    const wanted = targets.map((t) => t[k] as number);
    // A class no mix asks for (possible once the error bar has grown) goes by client size.
    const weights = wanted.some((w) => w > 0) ? wanted : sizes;
    apportion(pool.length, weights, rng.next()).forEach((share, i) => ((counts[i] as number[])[k] = share));
    return pool;
  });
  restoreSizes(counts, targets, sizes);
  const clients: number[][] = sizes.map(() => []);
  pools.forEach((pool, k) => {
    let next = 0;
    counts.forEach((row, i) => {
      const client = clients[i] as number[];
      for (let end = next + (row[k] as number); next < end; next++) client.push(pool[next] as number);
    });
  });
  return { clients, mixes };
}

/**
 * Per-class Dirichlet split (Flower's DirichletPartitioner, NIID-Bench), without NIID-Bench's
 * balancing step: in each try t (stream ..., t), for each class in classOrder, shuffle its
 * indices, draw proportions over clients ~ Dir(alpha * 1_N) and cut the class at the cumulative
 * proportions (floored; the last client takes the rest). Tries repeat until every client holds
 * at least minSize examples.
 */
function dirichletPerClass(
  members: number[][],
  classOrder: number[],
  numClients: number,
  alpha: number,
  minSize: number,
  seed: number,
): number[][] {
  const shares = new Array<number>(numClients).fill(alpha);
  for (let t = 0; t < MAX_TRIES; t++) {
    const rng = stream(seed, 'partition', t);
    const clients: number[][] = Array.from({ length: numClients }, () => []);
    for (const c of classOrder) {
      const pool = rng.shuffle([...(members[c] as number[])]);
      const proportions = rng.dirichlet(shares);
      let cumulative = 0;
      let start = 0;
      proportions.forEach((p, i) => {
        cumulative += p;
        const end = i === numClients - 1 ? pool.length : Math.min(pool.length, Math.floor(cumulative * pool.length));
        for (let k = start; k < end; k++) (clients[i] as number[]).push(pool[k] as number);
        start = Math.max(start, end);
      });
    }
    if (clients.every((client) => client.length >= minSize)) return clients;
  }
  throw new UserError(
    'scenario',
    'partition.minSize',
    `no Dirichlet(alpha=${alpha}) draw in ${MAX_TRIES} tries gave all ${numClients} clients at least ${minSize} examples; lower partition.minSize or raise partition.alpha`,
  );
}

/** What a family's split sees: the train set by class, and the run's client count and seed. */
interface SplitInput {
  n: number;
  numClients: number;
  numClasses: number;
  seed: number;
  /** members[k] = indices of class k. */
  members: number[][];
  classOrder: number[];
}

type Split = Pick<Partition, 'clients' | 'mixes' | 'alpha' | 'imbalance'>;

function defineFamily<const F extends string, const S extends z.ZodRawShape>(def: {
  family: F;
  /** The family's scenario fields beside `family`. */
  fields: S;
  split(input: SplitInput, spec: { family: F } & z.output<z.ZodObject<S>>): Split;
}) {
  return def;
}

const alpha = positive().describe('Dirichlet concentration; smaller is more skewed');
const imbalance = nonNegative()
  .optional()
  .describe('sigma of log-normal client sizes with mean n/clients (as FLGo); default: 0, near-equal sizes');

/**
 * The partition families, registered once: the scenario schema's `partition` union (with the
 * fields each family refuses) is built from this list, and `partition` dispatches on it.
 */
export const PARTITION_FAMILIES = [
  defineFamily({
    family: 'iid',
    fields: { imbalance },
    split: (input, spec) => {
      checkImbalance(spec.imbalance);
      return { clients: iid(clientSizes(input.n, input.numClients, spec.imbalance ?? 0, input.seed), input.seed), mixes: null, alpha: null, imbalance: spec.imbalance ?? 0 };
    },
  }),
  defineFamily({
    family: 'dirichlet',
    fields: { alpha, imbalance },
    split: (input, spec) => {
      checkImbalance(spec.imbalance);
      checkAlpha(spec.alpha);
      const drawn = dirichlet(input.members, input.classOrder, clientSizes(input.n, input.numClients, spec.imbalance ?? 0, input.seed), spec.alpha, input.seed);
      const mixes = drawn.mixes.map((mix) => {
        const full = new Array<number>(input.numClasses).fill(0);
        input.classOrder.forEach((c, k) => (full[c] = mix[k] as number));
        return full;
      });
      return { clients: drawn.clients, mixes, alpha: spec.alpha, imbalance: spec.imbalance ?? 0 };
    },
  }),
  defineFamily({
    family: 'dirichlet-per-class',
    fields: { alpha, minSize: int(1).default(10).describe('redraw until every client has at least this many examples') },
    split: (input, spec) => {
      checkAlpha(spec.alpha);
      if (!Number.isInteger(spec.minSize) || spec.minSize < 0) throw new UserError('scenario', 'partition.minSize', `expected an integer >= 0, got ${spec.minSize}`);
      if (spec.minSize * input.numClients > input.n) {
        throw new UserError('scenario', 'partition.minSize', `${input.numClients} clients of at least ${spec.minSize} need more than the ${input.n} training examples`);
      }
      return { clients: dirichletPerClass(input.members, input.classOrder, input.numClients, spec.alpha, spec.minSize, input.seed), mixes: null, alpha: spec.alpha, imbalance: null };
    },
  }),
];

type Family = (typeof PARTITION_FAMILIES)[number];
/** A validated `partition` section: one family's fields. */
export type PartitionSpec = Family extends infer F ? (F extends { split(input: SplitInput, spec: infer S): Split } ? S : never) : never;

/** Splits a train set's indices over clients; every draw comes from stream(seed, 'partition', ...). */
export function partition(labels: Int32Array, numClasses: number, numClients: number, spec: PartitionSpec, seed: number): Partition {
  const n = labels.length;
  checkClients(n, numClients);
  const family = PARTITION_FAMILIES.find((f) => f.family === spec.family);
  if (!family) throw new UserError('scenario', 'partition.family', `expected one of ${PARTITION_FAMILIES.map((f) => f.family).join(' | ')}, got ${JSON.stringify(spec.family)}`);
  const members = byClass(labels, numClasses);
  const classOrder = members.flatMap((m, c) => (m.length > 0 ? [c] : []));
  const split = (family.split as (input: SplitInput, spec: PartitionSpec) => Split)({ n, numClients, numClasses, seed, members, classOrder }, spec);
  return { family: spec.family, ...split, seed, classOrder, clients: split.clients.map((client) => client.sort((a, b) => a - b)) };
}

/** counts[c][k] = examples of class k held by client c. */
export function labelCounts(p: Partition, labels: Int32Array, numClasses: number): number[][] {
  return p.clients.map((client) => {
    const counts = new Array<number>(numClasses).fill(0);
    for (const i of client) counts[labels[i] as number] = (counts[labels[i] as number] as number) + 1;
    return counts;
  });
}
