import * as tf from '@tensorflow/tfjs-core';
import type { ClientModelSpec } from '../methods/method.js';
import { applyPatch, type FrozenPatch } from './frozen-patch.js';
import { assignFlat, flattenParams, type Params } from '../model/params.js';
import { makeTrainable } from '../model/train.js';
import { modelForward } from '../model/encoder.js';
import type { ForwardOptions } from '../model/layers.js';
import { readFloats } from '../tensor/read.js';

/** A client model resident in an actor: frozen tensors plus trainable variables. */
export class ClientModel {
  readonly params: Params = new Map();
  readonly vars: Map<string, tf.Variable>;

  constructor(readonly spec: ClientModelSpec) {
    for (const t of spec.tensors) this.params.set(t.name, tf.tensor(t.data, t.shape, 'float32'));
    this.vars = makeTrainable(this.params, spec.trainable);
  }

  forward(x: tf.Tensor2D, opts: Omit<ForwardOptions, 'lora'> = {}): tf.Tensor2D {
    return modelForward(this.spec.config, this.params, x, { ...opts, lora: this.spec.lora });
  }

  setTrainable(flat: Float32Array): void {
    assignFlat(this.params, this.spec.trainable, flat);
  }

  getTrainable(): Promise<Float32Array> {
    return flattenParams(this.params, this.spec.trainable);
  }

  /** Applies changes to frozen tensors (e.g. FFN neurons re-aligned by the server). */
  async updateFrozen(patches: readonly FrozenPatch[]): Promise<void> {
    for (const patch of patches) {
      if (this.vars.has(patch.name)) throw new Error(`${patch.name} is trainable, not frozen`);
      const old = this.params.get(patch.name);
      if (!old) throw new Error(`no frozen tensor ${patch.name}`);
      const next = applyPatch(await readFloats(old), old.shape, patch);
      this.params.set(patch.name, tf.tensor(next, old.shape, 'float32'));
      old.dispose();
    }
  }

  dispose(): void {
    for (const t of this.params.values()) t.dispose();
    this.params.clear();
    this.vars.clear();
  }
}
