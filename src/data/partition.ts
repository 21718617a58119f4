import { UserError } from '../util/errors.js';
import { stream } from '../util/rng.js';

export type PartitionSpec =
  | { family: 'iid' }
  | { family: 'dirichlet'; alpha: number }
  | { family: 'dirichlet-per-class'; alpha: number; minSize: number };

export interface Partition {
  family: string;
  alpha: number | null;
  seed: number;
  /** Classes in the order the draws visited them: the classes present, ascending. */
  classOrder: number[];
  /** clients[c] = sorted indices into the train set. */
  clients: number[][];
}

/** dirichlet-per-class redraws until every client reaches minSize; NIID-Bench would loop forever. */
const MAX_TRIES = 1000;

// Sub-stream ids under stream(seed, 'partition', ...) for the dirichlet family.
const CLIENT = 0;
const POOL = 1;

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

function checkInputs(n: number, numClients: number, spec: PartitionSpec): void {
  if (!Number.isInteger(numClients) || numClients < 1) {
    throw new UserError('scenario', 'clients', `expected a positive integer, got ${numClients}`);
  }
  if (numClients > n) throw new UserError('scenario', 'clients', `${numClients} clients but only ${n} training examples`);
  if (spec.family === 'iid') return;
  if (!(spec.alpha > 0) || !Number.isFinite(spec.alpha)) {
    throw new UserError('scenario', 'partition.alpha', `expected a finite number > 0, got ${spec.alpha}`);
  }
  if (spec.family === 'dirichlet-per-class') {
    if (!Number.isInteger(spec.minSize) || spec.minSize < 0) {
      throw new UserError('scenario', 'partition.minSize', `expected an integer >= 0, got ${spec.minSize}`);
    }
    if (spec.minSize * numClients > n) {
      throw new UserError('scenario', 'partition.minSize', `${numClients} clients of at least ${spec.minSize} need more than the ${n} training examples`);
    }
  }
}

function iid(n: number, numClients: number, seed: number): number[][] {
  const order = stream(seed, 'partition').shuffle(Array.from({ length: n }, (_, i) => i));
  let start = 0;
  return nearEqualSizes(n, numClients).map((size) => order.slice(start, (start += size)));
}

/**
 * Splits `total` into integers proportional to `weights` by systematic rounding with offset u in
 * [0,1): count_k = floor(C_k + u) - floor(C_{k-1} + u), C_k the cumulative exact share. Each count
 * is the floor or ceiling of its exact share, zero weights get nothing, the counts sum to
 * `total`, and over a uniform u each count's mean is its exact share. Deterministic rounding
 * (largest remainder) would instead favour the same classes for every client of a near-uniform
 * mix, and the bias would pile up in the last clients' leftovers.
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

/**
 * Label skew after Hsu et al. (2019), as FedPFT/FLGo use it:
 * 1. q = the global label distribution over classOrder (the classes present, ascending);
 * 2. each class's indices are shuffled into a pool (stream ..., POOL, class);
 * 3. client sizes are near-equal (floor(n/N) or one more), so every example is used once;
 * 4. clients are filled one after another: client i draws its label mix p_i ~ Dir(alpha * q)
 *    from stream ..., CLIENT, i, apportions its size over the classes in proportion to p_i
 *    (systematic rounding, offset from the same stream; see apportion), and takes each class's
 *    share from the end of its pool. Where a pool cannot cover its share, the client takes what
 *    is left of it and apportions the shortfall again by p_i renormalised over the pools that
 *    still hold examples; when all of p_i's mass sits on empty pools (tiny alphas underflow to
 *    exact zeros), by the pools' sizes.
 * Apportioning rather than sampling each example's class gives a client its drawn mix to within
 * one example per class, without multinomial noise on top of the Dirichlet skew. Filling
 * clients one at a time keeps early clients' mixes exact and pushes the effect of depleted
 * pools onto the last clients, rather than blurring every client's mix a little.
 */
function dirichlet(members: number[][], classOrder: number[], n: number, numClients: number, alpha: number, seed: number): number[][] {
  const concentration = classOrder.map((c) => (alpha * (members[c] as number[]).length) / n);
  const pools = classOrder.map((c) => stream(seed, 'partition', POOL, c).shuffle([...(members[c] as number[])]));
  return nearEqualSizes(n, numClients).map((size, i) => {
    const rng = stream(seed, 'partition', CLIENT, i);
    const mix = rng.dirichlet(concentration);
    const client: number[] = [];
    while (client.length < size) {
      const need = size - client.length;
      let weights = mix.map((p, k) => ((pools[k] as number[]).length > 0 ? p : 0));
      if (!(weights.reduce((s, w) => s + w, 0) > 0)) weights = pools.map((pool) => pool.length);
      apportion(need, weights, rng.next()).forEach((share, k) => {
        const pool = pools[k] as number[];
        for (let take = Math.min(share, pool.length, size - client.length); take > 0; take--) client.push(pool.pop() as number);
      });
    }
    return client;
  });
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

/** Splits a train set's indices over clients; every draw comes from stream(seed, 'partition', ...). */
export function partition(labels: Int32Array, numClasses: number, numClients: number, spec: PartitionSpec, seed: number): Partition {
  const n = labels.length;
  checkInputs(n, numClients, spec);
  const members = byClass(labels, numClasses);
  const classOrder = members.flatMap((m, c) => (m.length > 0 ? [c] : []));
  let clients: number[][];
  switch (spec.family) {
    case 'iid':
      clients = iid(n, numClients, seed);
      break;
    case 'dirichlet':
      clients = dirichlet(members, classOrder, n, numClients, spec.alpha, seed);
      break;
    case 'dirichlet-per-class':
      clients = dirichletPerClass(members, classOrder, numClients, spec.alpha, spec.minSize, seed);
      break;
  }
  return {
    family: spec.family,
    alpha: spec.family === 'iid' ? null : spec.alpha,
    seed,
    classOrder,
    clients: clients.map((client) => client.sort((a, b) => a - b)),
  };
}

/** counts[c][k] = examples of class k held by client c. */
export function labelCounts(p: Partition, labels: Int32Array, numClasses: number): number[][] {
  return p.clients.map((client) => {
    const counts = new Array<number>(numClasses).fill(0);
    for (const i of client) counts[labels[i] as number] = (counts[labels[i] as number] as number) + 1;
    return counts;
  });
}
