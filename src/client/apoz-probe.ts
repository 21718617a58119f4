import { gatherBatch } from '../model/train.js';
import { ffnActivationZeroCounts } from '../proxy/apoz.js';
import type { ClientModel } from './client-model.js';
import type { SharedImages } from './local-train.js';
import type { ProbeTask } from './probes.js';

export interface ApozPayload {
  layers: number[];
  eps: number;
  /** The client counts over at most this many of its examples (its first ones). */
  maxExamples: number;
}

/** What a client sends up: per layer, one int32 zero count per FFN neuron, and the positions seen. */
export interface ApozReport {
  layers: number[];
  zeros: Int32Array[];
  positions: number;
}

/** FedPFT step 4 on the client: APoZ numerators of its sub-FM's FFN neurons on its own data. */
export function apozProbe(model: ClientModel, data: SharedImages, task: ProbeTask): ApozReport {
  const payload = task.payload as ApozPayload;
  model.setTrainable(task.global);
  const n = Math.min(payload.maxExamples, task.indices.length);
  const { x } = gatherBatch(data.features, data.labels, data.featureSize, task.indices, 0, n);
  try {
    const counts = ffnActivationZeroCounts(model.spec.config, model.params, x, payload.layers, { eps: payload.eps, lora: model.spec.lora, batchSize: 64 });
    return { layers: payload.layers, zeros: payload.layers.map((l) => Int32Array.from(counts.zeros.get(l) as Float64Array)), positions: counts.positions };
  } finally {
    x.dispose();
  }
}
