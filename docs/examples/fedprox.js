// FedProx (Li et al., MLSys 2020) as a fedpft user method: FedPETuning whose clients add the
// proximal term (mu / 2) ||w - w_global||^2 to their local loss, so their LoRA and head stay
// near the round's global weights on skewed data. A scenario uses it with
//   method: { module: ./fedprox.js, name: fedprox, mu: 0.01 }
import { builtinMethod, defineMethod, headSchema, localTrain, loraSchema, nonNegative, tf } from 'fedpft';

const fedpetuning = builtinMethod('fedpetuning');

/**
 * (mu / 2) * sum over the trainable tensors of ||w - anchor||^2. It runs inside the training
 * step's gradient tape (and tidy), so it creates tensors freely and disposes none.
 */
export function proximalTerm(vars, anchor, mu) {
  let sum = tf.scalar(0);
  for (const [name, w] of vars) sum = tf.add(sum, tf.sum(tf.square(tf.sub(w, anchor.get(name)))));
  return tf.mul(sum, mu / 2);
}

export default defineMethod({
  name: 'fedprox',
  description: 'FedProx: FedPETuning whose clients add (mu / 2) ||w - w_global||^2 to their local loss',
  options: {
    lora: loraSchema,
    head: headSchema,
    mu: nonNegative().default(0.01).describe('mu: weight of the proximal term; 0 is FedPETuning'),
  },
  // The server half is FedPETuning's: the same client model, FedAvg, evaluation on the full FM.
  server: (options) => ({ ...fedpetuning.server(options), name: 'fedprox' }),
  client: {
    async train({ model, data, task, options }) {
      model.setTrainable(task.weights);
      // The round's global weights, copied before the first step moves them.
      const anchor = new Map([...model.vars].map(([name, w]) => [name, w.clone()]));
      try {
        return await localTrain(model, data, task, { extraLoss: (vars) => proximalTerm(vars, anchor, options.mu) });
      } finally {
        tf.dispose([...anchor.values()]);
      }
    },
  },
});
