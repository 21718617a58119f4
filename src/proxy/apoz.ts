import * as tf from '@tensorflow/tfjs-core';
import type { Params } from '../model/params.js';
import { encoderFfnWidth as ffnWidth, modelForward, realTokenMask, tokensPerExample, type ModelConfig } from '../model/encoder.js';
import type { LoraOptions } from '../model/layers.js';
import type { Rng } from '../util/rng.js';
import { readScalar, readView } from '../tensor/read.js';

/**
 * FedPFT's neuron-level alignment inputs (METHOD.md, FedPFT section 4): per FFN neuron, the
 * number of token positions where its activation is zero (APoZ numerator) and the number of
 * positions, pooled on the server into APoZ = sum zeros / sum positions.
 */

export interface ZeroCountOptions {
  /**
   * 0: count exact zeros of the GELU activation (the paper's definition; rare with GELU, which
   * is exactly 0 in float32 only at 0 and below about -5.54); > 0: count |activation| <= eps.
   */
  eps: number;
  /** Plug these LoRA adapters into the forward pass (they must be in `params`). */
  lora?: LoraOptions;
  /** Images per forward pass (default: all at once). */
  batchSize?: number;
}

export interface ZeroCounts {
  /** Layer -> per-neuron count of positions counted as zero. */
  zeros: Map<number, Float64Array>;
  /** Token positions seen: images * (patches + 1), CLS included; text: real (non-padding) tokens. */
  positions: number;
}

/**
 * Runs the model (eval mode: no dropout) over `inputs` [n, features] and counts, for each listed
 * layer and FFN neuron, the token positions where the activation gelu(h W1 + b1) is zero
 * (eps = 0) or within eps of zero. One read-back per batch; no tensors are left behind.
 */
export async function ffnActivationZeroCounts(cfg: ModelConfig, params: Params, inputs: tf.Tensor2D, layers: readonly number[], opts: ZeroCountOptions): Promise<ZeroCounts> {
  const { eps } = opts;
  if (!Number.isFinite(eps) || eps < 0) throw new RangeError(`eps must be a finite number >= 0, got ${eps}`);
  const wanted = [...new Set(layers)].sort((a, b) => a - b);
  for (const l of wanted) {
    if (!Number.isInteger(l) || l < 0 || l >= cfg.numHiddenLayers) throw new RangeError(`layer ${l} is not in [0, ${cfg.numHiddenLayers - 1}]`);
  }
  const n = inputs.shape[0];
  const batchSize = opts.batchSize ?? n;
  if (!Number.isInteger(batchSize) || batchSize < 1) throw new RangeError(`batchSize must be an integer >= 1, got ${batchSize}`);

  const offsets = new Map<number, number>();
  let total = 0;
  for (const l of wanted) {
    offsets.set(l, total);
    total += ffnWidth(cfg, l);
  }
  const sums = new Float64Array(total);
  let positions = 0;

  for (let start = 0; start < n; start += batchSize) {
    const size = Math.min(batchSize, n - start);
    const [counts, real] = tf.tidy(() => {
      const batch = start === 0 && size === n ? inputs : (tf.slice(inputs, [start, 0], [size, inputs.shape[1]]) as tf.Tensor2D);
      // Text: padding positions (attention mask 0) are not tokens, so they count neither as zeros nor as positions.
      const mask = realTokenMask(cfg, batch);
      const perLayer = new Map<number, tf.Tensor1D>();
      modelForward(cfg, params, batch, {
        lora: opts.lora,
        onFfnActivation: (layer, act) => {
          if (!offsets.has(layer)) return;
          let zero = tf.cast(eps === 0 ? tf.equal(act, 0) : tf.lessEqual(tf.abs(act), eps), 'float32');
          if (mask) zero = tf.mul(zero, tf.reshape(mask, [-1, 1]));
          // float32 sums of 0/1 are exact below 2^24 positions per batch.
          perLayer.set(layer, tf.sum(zero, 0) as tf.Tensor1D);
        },
      });
      const all = wanted.length > 0 ? tf.concat(wanted.map((l) => perLayer.get(l) as tf.Tensor1D)) : tf.zeros([0]);
      return [all, mask ? tf.sum(mask) : tf.scalar(size * tokensPerExample(cfg, inputs.shape[1]))];
    });
    let data: Float32Array | Int32Array | Uint8Array;
    try {
      positions += await readScalar(real);
      data = await readView(counts);
    } finally {
      counts.dispose();
      real.dispose();
    }
    for (let i = 0; i < total; i++) sums[i] = (sums[i] as number) + (data[i] as number);
  }

  const zeros = new Map<number, Float64Array>();
  for (const l of wanted) {
    const o = offsets.get(l) as number;
    zeros.set(l, sums.slice(o, o + ffnWidth(cfg, l)));
  }
  return { zeros, positions };
}

/** Server side: APoZ per layer and neuron = sum of zero counts / sum of positions over the reports. */
export function pooledApoz(reports: readonly ZeroCounts[]): Map<number, Float64Array> {
  if (reports.length === 0) throw new RangeError('pooledApoz: no reports');
  const first = reports[0] as ZeroCounts;
  const layers = [...first.zeros.keys()].sort((a, b) => a - b);
  const sums = new Map<number, Float64Array>(layers.map((l) => [l, new Float64Array((first.zeros.get(l) as Float64Array).length)]));
  let positions = 0;
  for (const [r, report] of reports.entries()) {
    if (report.zeros.size !== layers.length) throw new RangeError(`pooledApoz: report ${r} has ${report.zeros.size} layers, report 0 has ${layers.length}`);
    for (const l of layers) {
      const z = report.zeros.get(l);
      const acc = sums.get(l) as Float64Array;
      if (!z || z.length !== acc.length) throw new RangeError(`pooledApoz: report ${r} lacks layer ${l} or has another width`);
      for (let i = 0; i < z.length; i++) acc[i] = (acc[i] as number) + (z[i] as number);
    }
    positions += report.positions;
  }
  if (!(positions > 0)) throw new RangeError('pooledApoz: the reports cover no positions');
  for (const acc of sums.values()) for (let i = 0; i < acc.length; i++) acc[i] = (acc[i] as number) / positions;
  return sums;
}

/** How many neurons of ff a proportion p updates: round(p * ff), halves rounded up. */
export function updatedNeuronCount(p: number, ff: number): number {
  if (!(p >= 0 && p <= 1)) throw new RangeError(`proportion p must be in [0, 1], got ${p}`);
  return Math.round(p * ff);
}

/**
 * The neurons to update in the alignment step: the round(p * ff) with the HIGHEST APoZ (least
 * active on the downstream data); the rest stay frozen. Ties are broken by a seeded shuffle:
 * the indices are shuffled with `rng` first, then stably sorted by APoZ descending. Returned
 * ascending.
 */
export function selectUpdatedNeurons(apoz: ArrayLike<number>, p: number, rng: Rng): number[] {
  const ff = apoz.length;
  const count = updatedNeuronCount(p, ff);
  for (let i = 0; i < ff; i++) {
    if (Number.isNaN(apoz[i] as number)) throw new RangeError(`APoZ of neuron ${i} is NaN`);
  }
  const order = rng.shuffle(Array.from({ length: ff }, (_, i) => i));
  // Array.prototype.sort is stable (ES2019), so equal APoZ keep the shuffled order.
  order.sort((a, b) => (apoz[b] as number) - (apoz[a] as number));
  return order.slice(0, count).sort((a, b) => a - b);
}
