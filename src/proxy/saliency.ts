/**
 * FedPFT's neuron saliency (METHOD.md, FedPFT section 1). For an FFN
 * gelu(x W1 + b1) W2 + b2 in this project's internal layout, W1 [d, ff] and W2 [ff, d]:
 * neuron i's input weights u_i are column i of W1 and its output weights w_i are row i of W2,
 * and saliency(i) = sqrt(sum_j u_ij^2 + w_ij^2). Biases are not part of the score.
 */
export function neuronSaliency(w1: Float32Array, w2: Float32Array, d: number, ff: number): Float64Array {
  if (w1.length !== d * ff) throw new RangeError(`W1 has ${w1.length} values, expected d * ff = ${d} * ${ff}`);
  if (w2.length !== ff * d) throw new RangeError(`W2 has ${w2.length} values, expected ff * d = ${ff} * ${d}`);
  const sq = new Float64Array(ff);
  for (let j = 0; j < d; j++) {
    const row = j * ff;
    for (let i = 0; i < ff; i++) {
      const v = w1[row + i] as number;
      sq[i] = (sq[i] as number) + v * v;
    }
  }
  for (let i = 0; i < ff; i++) {
    let s = sq[i] as number;
    const row = i * d;
    for (let j = 0; j < d; j++) {
      const v = w2[row + j] as number;
      s += v * v;
    }
    sq[i] = Math.sqrt(s);
  }
  return sq;
}

/**
 * Indices of the k largest scores (ties go to the lower index), returned in ascending, i.e.
 * original, order, so the kept neurons keep their relative positions.
 */
export function topKInOrder(scores: ArrayLike<number>, k: number): number[] {
  const n = scores.length;
  if (!Number.isInteger(k) || k < 0 || k > n) throw new RangeError(`cannot keep ${k} of ${n} scores`);
  for (let i = 0; i < n; i++) {
    if (Number.isNaN(scores[i] as number)) throw new RangeError(`score ${i} is NaN`);
  }
  const order = Array.from({ length: n }, (_, i) => i);
  order.sort((a, b) => (scores[b] as number) - (scores[a] as number) || a - b);
  return order.slice(0, k).sort((a, b) => a - b);
}
