// FedAvgM (Hsu et al., 2019) as a fedpft user method: FedPETuning whose server applies the
// clients' average update with momentum, v <- beta v + (w - avg), w <- w - serverLr v.
// A scenario uses it with  method: { module: ./fedavgm.js, name: fedavgm, beta: 0.9 }
import { builtinMethod, defineMethod, fedAvg, headSchema, loraSchema, positive, z } from 'fedpft';

const fedpetuning = builtinMethod('fedpetuning');
const VELOCITY = 'fedavgm.velocity';

/** One server step: the new global vector and velocity, float32 like every global vector. */
export function momentumStep(global, average, velocity, beta, serverLr) {
  const v = new Float32Array(global.length);
  const next = new Float32Array(global.length);
  for (let i = 0; i < global.length; i++) {
    v[i] = beta * velocity[i] + (global[i] - average[i]);
    next[i] = global[i] - serverLr * v[i];
  }
  return { next, velocity: v };
}

export default defineMethod({
  name: 'fedavgm',
  description: 'FedAvgM: FedPETuning whose server applies the average client update with momentum',
  options: {
    lora: loraSchema,
    head: headSchema,
    beta: z.number({ error: 'expected a number in [0, 1)' }).min(0, { error: 'expected a number in [0, 1)' }).lt(1, { error: 'expected a number in [0, 1)' }).default(0.9).describe('server momentum'),
    serverLr: positive().default(1).describe('server learning rate'),
  },
  server(options) {
    const base = fedpetuning.server(options);
    let velocity = null;
    return {
      ...base,
      name: 'fedavgm',
      aggregate(updates, { global, weighting }) {
        const step = momentumStep(global, fedAvg(updates, weighting), velocity ?? new Float32Array(global.length), options.beta, options.serverLr);
        velocity = step.velocity;
        return step.next;
      },
      // The velocity is server state: a resumed run must continue it, not restart it at zero.
      async exportState() {
        return velocity ? [{ name: VELOCITY, shape: [velocity.length], data: velocity }] : [];
      },
      async importState(tensors) {
        const saved = tensors.find((t) => t.name === VELOCITY);
        velocity = saved ? Float32Array.from(saved.data) : null;
        return [];
      },
    };
  },
});
