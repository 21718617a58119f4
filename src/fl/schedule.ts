/**
 * Global learning rate of round r (1-based) of R. `linear` is METHOD.md's lr0 * (R - r) / R;
 * it reaches 0 in the last round, where the reference code keeps the previous round's rate.
 * With R = 1 the "previous" rate is the initial one, lr0 (not 0, which would train nothing).
 */
export function roundLearningRate(lr0: number, round: number, rounds: number, schedule: 'linear' | 'constant'): number {
  if (schedule === 'constant') return lr0;
  const r = round === rounds ? round - 1 : round;
  return (lr0 * (rounds - r)) / rounds;
}
