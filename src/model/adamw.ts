import * as tf from '@tensorflow/tfjs-core';

export interface AdamWOptions {
  beta1: number;
  beta2: number;
  eps: number;
  weightDecay: number;
}

export const DEFAULT_ADAMW: AdamWOptions = { beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0.01 };

/**
 * AdamW (Loshchilov & Hutter) as PyTorch computes it: decoupled weight decay
 * w <- w - lr * wd * w applied before the Adam step, on matrices only (biases and LayerNorm
 * gains are not decayed, as HF's Trainer does). tfjs has no AdamW, and its Adam keeps hidden
 * state that a client task would have to reset; this one is created per task and disposed.
 */
export class AdamW {
  private readonly m = new Map<string, tf.Variable>();
  private readonly v = new Map<string, tf.Variable>();
  private t = 0;

  constructor(
    private readonly vars: ReadonlyMap<string, tf.Variable>,
    private readonly opts: AdamWOptions,
  ) {
    for (const [name, w] of vars) {
      // tidy disposes the zeros the variables were made from; variables themselves survive it.
      this.m.set(name, tf.tidy(() => tf.variable(tf.zerosLike(w), false)));
      this.v.set(name, tf.tidy(() => tf.variable(tf.zerosLike(w), false)));
    }
  }

  step(grads: tf.NamedTensorMap, lr: number): void {
    this.t++;
    const { beta1, beta2, eps, weightDecay } = this.opts;
    const c1 = 1 - beta1 ** this.t;
    const c2 = 1 - beta2 ** this.t;
    tf.tidy(() => {
      for (const [name, w] of this.vars) {
        const g = grads[name];
        if (!g) continue;
        const m = this.m.get(name) as tf.Variable;
        const v = this.v.get(name) as tf.Variable;
        m.assign(tf.add(tf.mul(m, beta1), tf.mul(g, 1 - beta1)));
        v.assign(tf.add(tf.mul(v, beta2), tf.mul(tf.square(g), 1 - beta2)));
        const decayed = weightDecay > 0 && w.rank >= 2 ? tf.mul(w, 1 - lr * weightDecay) : w;
        const update = tf.div(tf.div(m, c1), tf.add(tf.sqrt(tf.div(v, c2)), eps));
        w.assign(tf.sub(decayed, tf.mul(update, lr)));
      }
    });
  }

  /** Moments and step count, for a resumable checkpoint. */
  exportState(): { step: number; tensors: Map<string, tf.Tensor> } {
    const tensors = new Map<string, tf.Tensor>();
    for (const [name, m] of this.m) tensors.set(`adamw.m.${name}`, m);
    for (const [name, v] of this.v) tensors.set(`adamw.v.${name}`, v);
    return { step: this.t, tensors };
  }

  importState(step: number, get: (name: string) => Float32Array): void {
    this.t = step;
    tf.tidy(() => {
      for (const [name, m] of this.m) m.assign(tf.tensor(get(`adamw.m.${name}`), m.shape, 'float32'));
      for (const [name, v] of this.v) v.assign(tf.tensor(get(`adamw.v.${name}`), v.shape, 'float32'));
    });
  }

  dispose(): void {
    for (const t of [...this.m.values(), ...this.v.values()]) t.dispose();
    this.m.clear();
    this.v.clear();
  }
}
