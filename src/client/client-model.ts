import * as tf from '@tensorflow/tfjs-core';
import type { ClientModelSpec } from '../methods/method.js';
import { assignFlat, flattenParams, type Params } from '../model/params.js';
import { makeTrainable } from '../model/train.js';
import { vitForward, type ForwardOptions } from '../model/vit.js';

/** A client model resident in an actor: frozen tensors plus trainable variables. */
export class ClientModel {
  readonly params: Params = new Map();
  readonly vars: Map<string, tf.Variable>;

  constructor(readonly spec: ClientModelSpec) {
    for (const t of spec.tensors) this.params.set(t.name, tf.tensor(t.data, t.shape, 'float32'));
    this.vars = makeTrainable(this.params, spec.trainable);
  }

  forward(x: tf.Tensor2D, opts: Omit<ForwardOptions, 'lora'> = {}): tf.Tensor2D {
    return vitForward(this.spec.config, this.params, x, { ...opts, lora: this.spec.lora });
  }

  setTrainable(flat: Float32Array): void {
    assignFlat(this.params, this.spec.trainable, flat);
  }

  getTrainable(): Float32Array {
    return flattenParams(this.params, this.spec.trainable);
  }

  /** Replaces frozen tensors (e.g. FFN rows re-aligned by the server). */
  updateFrozen(tensors: readonly { name: string; shape: number[]; data: Float32Array }[]): void {
    for (const t of tensors) {
      if (this.vars.has(t.name)) throw new Error(`${t.name} is trainable, not frozen`);
      const old = this.params.get(t.name);
      this.params.set(t.name, tf.tensor(t.data, t.shape, 'float32'));
      old?.dispose();
    }
  }

  dispose(): void {
    for (const t of this.params.values()) t.dispose();
    this.params.clear();
    this.vars.clear();
  }
}
