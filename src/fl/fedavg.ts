export interface ClientUpdate {
  clientId: number;
  weights: Float32Array;
  numExamples: number;
}

/**
 * FedAvg: the (data-size weighted or uniform) mean of the client vectors. Sums run in float64
 * in ascending client id order, whatever order the updates arrived in, so the result does not
 * depend on worker count or completion order.
 */
export function fedAvg(updates: readonly ClientUpdate[], weighting: 'weighted' | 'uniform'): Float32Array {
  if (updates.length === 0) throw new Error('fedAvg needs at least one update');
  const sorted = [...updates].sort((a, b) => a.clientId - b.clientId);
  const size = (sorted[0] as ClientUpdate).weights.length;
  const coef = sorted.map((u) => (weighting === 'weighted' ? u.numExamples : 1));
  const total = coef.reduce((s, c) => s + c, 0);
  if (!(total > 0)) throw new Error('fedAvg: total weight is zero');
  const acc = new Float64Array(size);
  sorted.forEach((u, i) => {
    if (u.weights.length !== size) throw new Error(`client ${u.clientId} sent ${u.weights.length} values, expected ${size}`);
    const w = (coef[i] as number) / total;
    for (let j = 0; j < size; j++) acc[j] = (acc[j] as number) + w * (u.weights[j] as number);
  });
  return Float32Array.from(acc);
}
