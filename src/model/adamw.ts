import * as tf from '@tensorflow/tfjs-core';
import { readFloats } from '../tensor/read.js';

export interface AdamWOptions {
  beta1: number;
  beta2: number;
  eps: number;
  weightDecay: number;
}

export const DEFAULT_ADAMW: AdamWOptions = { beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0.01 };

/**
 * Where the moments live and the update runs. `host`: Float32Arrays and one fused JavaScript
 * loop per tensor; `device`: tfjs variables and ops. Both round every operation to float32 in the
 * same order, so they give bit-identical weights (test/adamw.test.ts checks this).
 */
export type AdamWPlacement = 'host' | 'device';

/**
 * The host loop replaces about twenty tensor ops per trainable tensor, whose dispatch and
 * garbage dominated small (LoRA) steps on wasm; on the tensorflow backend the data may sit on a
 * GPU, where reading it back every step would cost more than the ops.
 */
export function defaultPlacement(): AdamWPlacement {
  return HOST_MEMORY_BACKENDS.has(tf.getBackend()) ? 'host' : 'device';
}

/** Backends whose tensors live in this thread's memory, where a read needs no device round trip. */
const HOST_MEMORY_BACKENDS = new Set(['cpu', 'wasm']);

const f32 = Math.fround;

interface Slot {
  m: Float32Array;
  v: Float32Array;
}

/**
 * AdamW (Loshchilov & Hutter) as PyTorch computes it: decoupled weight decay
 * w <- w - lr * wd * w applied before the Adam step, on matrices only (biases and LayerNorm
 * gains are not decayed, as HF's Trainer does). tfjs has no AdamW, and its Adam keeps hidden
 * state that a client task would have to reset; this one is created per task and disposed.
 */
export class AdamW {
  private readonly hostSlots = new Map<string, Slot>();
  private readonly m = new Map<string, tf.Variable>();
  private readonly v = new Map<string, tf.Variable>();
  private t = 0;
  readonly placement: AdamWPlacement;

  constructor(
    private readonly vars: ReadonlyMap<string, tf.Variable>,
    private readonly opts: AdamWOptions,
    placement: AdamWPlacement = defaultPlacement(),
  ) {
    this.placement = placement;
    for (const [name, w] of vars) {
      if (placement === 'host') {
        this.hostSlots.set(name, { m: new Float32Array(w.size), v: new Float32Array(w.size) });
      } else {
        // tidy disposes the zeros the variables were made from; variables themselves survive it.
        this.m.set(name, tf.tidy(() => tf.variable(tf.zerosLike(w), false)));
        this.v.set(name, tf.tidy(() => tf.variable(tf.zerosLike(w), false)));
      }
    }
  }

  step(grads: tf.NamedTensorMap, lr: number): void {
    this.t++;
    if (this.placement === 'host') this.stepHost(grads, lr);
    else this.stepDevice(grads, lr);
  }

  /**
   * The device path's ops element by element: every constant is the float32 scalar tfjs would
   * make of it, and every product, sum, quotient and square root is rounded to float32 as the
   * kernels round it (exact in double first, then rounded once: the same result).
   */
  private stepHost(grads: tf.NamedTensorMap, lr: number): void {
    const { beta1, beta2, eps, weightDecay } = this.opts;
    const b1 = f32(beta1);
    const b2 = f32(beta2);
    const ob1 = f32(1 - beta1);
    const ob2 = f32(1 - beta2);
    const c1 = f32(1 - beta1 ** this.t);
    const c2 = f32(1 - beta2 ** this.t);
    const e = f32(eps);
    const lrF = f32(lr);
    const decay = f32(1 - lr * weightDecay);
    for (const [name, w] of this.vars) {
      const grad = grads[name];
      if (!grad) continue;
      const { m, v } = this.hostSlots.get(name) as Slot;
      // Host placement runs only on backends whose tensors are in this thread's memory
      // (defaultPlacement), where a synchronous read is a copy, not a device round trip.
      // eslint-disable-next-line no-restricted-syntax
      const g = grad.dataSync() as Float32Array;
      // eslint-disable-next-line no-restricted-syntax
      const next = Float32Array.from(w.dataSync() as Float32Array);
      const decayed = weightDecay > 0 && w.rank >= 2;
      for (let i = 0; i < next.length; i++) {
        const gi = g[i] as number;
        const mi = f32(f32((m[i] as number) * b1) + f32(gi * ob1));
        const vi = f32(f32((v[i] as number) * b2) + f32(f32(gi * gi) * ob2));
        m[i] = mi;
        v[i] = vi;
        const wi = decayed ? f32((next[i] as number) * decay) : (next[i] as number);
        const update = f32(f32(mi / c1) / f32(f32(Math.sqrt(f32(vi / c2))) + e));
        next[i] = wi - f32(update * lrF);
      }
      w.assign(tf.tensor(next, w.shape, 'float32'));
    }
  }

  private stepDevice(grads: tf.NamedTensorMap, lr: number): void {
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

  /** Moments (copies) and step count, for a resumable checkpoint. */
  async exportState(): Promise<{ step: number; moments: Array<{ name: string; shape: number[]; data: Float32Array }> }> {
    const moments: Array<{ name: string; shape: number[]; data: Float32Array }> = [];
    for (const [name, w] of this.vars) {
      const [m, v] = await this.momentsOf(name);
      moments.push({ name: `adamw.m.${name}`, shape: w.shape, data: m }, { name: `adamw.v.${name}`, shape: w.shape, data: v });
    }
    return { step: this.t, moments };
  }

  private async momentsOf(name: string): Promise<[Float32Array, Float32Array]> {
    const slot = this.hostSlots.get(name);
    if (slot) return [slot.m.slice(), slot.v.slice()];
    return [await readFloats(this.m.get(name) as tf.Variable), await readFloats(this.v.get(name) as tf.Variable)];
  }

  importState(step: number, get: (name: string) => Float32Array): void {
    this.t = step;
    for (const [name, slot] of this.hostSlots) {
      slot.m.set(get(`adamw.m.${name}`));
      slot.v.set(get(`adamw.v.${name}`));
    }
    tf.tidy(() => {
      for (const [name, m] of this.m) m.assign(tf.tensor(get(`adamw.m.${name}`), m.shape, 'float32'));
      for (const [name, v] of this.v) v.assign(tf.tensor(get(`adamw.v.${name}`), v.shape, 'float32'));
    });
  }

  dispose(): void {
    for (const t of [...this.m.values(), ...this.v.values()]) t.dispose();
    this.m.clear();
    this.v.clear();
    this.hostSlots.clear();
  }
}
