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

export type StepSchedule = { kind: 'linear-warmup'; warmupRatio: number } | { kind: 'constant' };

/**
 * Learning rate of optimiser step s (0-based) of a run of `steps` steps. linear-warmup is HF's
 * get_linear_schedule_with_warmup with W = ceil(warmupRatio * steps) warm-up steps, as the
 * reference code's Trainer runs distillation: s / W while s < W (so step 0 trains at 0 when
 * W > 0), then (steps - s) / (steps - W).
 */
export function stepLearningRate(lr: number, step: number, steps: number, schedule: StepSchedule): number {
  if (schedule.kind === 'constant') return lr;
  const warmup = Math.ceil(schedule.warmupRatio * steps);
  if (step < warmup) return (lr * step) / Math.max(1, warmup);
  return lr * Math.max(0, (steps - step) / Math.max(1, steps - warmup));
}
