import { apozProbe } from './apoz-probe.js';
import type { ClientModel } from './client-model.js';
import type { SharedImages } from './local-train.js';

/** A probe as a client actor runs it: the method's payload, the client's data and its model. */
export interface ProbeTask {
  payload: unknown;
  indices: Int32Array;
  /** The trainable vector the probe plugs in: the client's own, after its local training. */
  weights: Float32Array;
}

type Probe = (model: ClientModel, data: SharedImages, task: ProbeTask) => unknown;

/** Probe kinds a method may request; each is a pure function of the model and the client's data. */
const PROBES: Record<string, Probe> = { apoz: apozProbe };

export function runProbe(kind: string, model: ClientModel, data: SharedImages, task: ProbeTask): unknown {
  const probe = PROBES[kind];
  if (!probe) throw new Error(`unknown probe "${kind}"`);
  return probe(model, data, task);
}
