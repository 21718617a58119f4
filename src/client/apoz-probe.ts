import { encoderFfnWidth } from '../model/encoder.js';
import { gatherBatch } from '../model/train.js';
import { ffnActivationZeroCounts } from '../proxy/apoz.js';
import type { ClientModel } from './client-model.js';
import type { SharedImages } from './local-train.js';
import type { ProbeTask } from './probe-protocol.js';

export interface ApozPayload {
  layers: number[];
  eps: number;
  /** The client counts over at most this many of its examples (its first ones); null: all of them. */
  maxExamples: number | null;
}

/** What a client sends up: per layer, one int32 zero count per FFN neuron, and the positions seen. */
export interface ApozReport {
  layers: number[];
  zeros: Int32Array[];
  positions: number;
}

/** Examples per forward pass: bounds the probe's memory whatever the client's size. */
const PROBE_BATCH = 64;

/**
 * FedPFT step 4 on the client: APoZ numerators of its sub-FM's FFN neurons over its local set
 * (METHOD.md: all of it unless the scenario limits it), with its trained weights plugged in.
 */
export async function apozProbe(model: ClientModel, data: SharedImages, task: ProbeTask): Promise<ApozReport> {
  const payload = task.payload as ApozPayload;
  model.setTrainable(task.weights);
  const n = Math.min(payload.maxExamples ?? Infinity, task.indices.length);
  const zeros = payload.layers.map((l) => new Int32Array(encoderFfnWidth(model.spec.config, l)));
  let positions = 0;
  for (let start = 0; start < n; start += PROBE_BATCH) {
    const { x } = gatherBatch(data.features, data.labels, data.featureSize, task.indices, start, Math.min(PROBE_BATCH, n - start));
    try {
      const counts = await ffnActivationZeroCounts(model.spec.config, model.params, x, payload.layers, { eps: payload.eps, lora: model.spec.lora });
      payload.layers.forEach((l, k) => {
        const acc = zeros[k] as Int32Array;
        (counts.zeros.get(l) as Float64Array).forEach((z, i) => (acc[i] = (acc[i] as number) + z));
      });
      positions += counts.positions;
    } finally {
      x.dispose();
    }
  }
  return { layers: payload.layers, zeros, positions };
}
