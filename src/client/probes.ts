import { apozProbe } from './apoz-probe.js';
import type { ClientModel } from './client-model.js';
import type { SharedImages } from './local-train.js';
import type { ProbeTask } from './probe-protocol.js';

type Probe = (model: ClientModel, data: SharedImages, task: ProbeTask) => Promise<unknown>;

/** Probe kinds a method may request; each is a pure function of the model and the client's data. */
const PROBES: Record<string, Probe> = { apoz: apozProbe };

export function runProbe(kind: string, model: ClientModel, data: SharedImages, task: ProbeTask): Promise<unknown> {
  const probe = PROBES[kind];
  if (!probe) throw new Error(`unknown probe "${kind}"`);
  return probe(model, data, task);
}
