import { stream } from '../util/rng.js';

/**
 * The clients of round r: a uniform sample of k of n without replacement, from the round's own
 * stream, returned in ascending id order (the order results are aggregated in).
 */
export function sampleClients(seed: number, round: number, numClients: number, perRound: number): number[] {
  return stream(seed, 'sample', round)
    .sample(numClients, perRound)
    .sort((a, b) => a - b);
}
