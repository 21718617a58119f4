import { ClientModel } from '../client/client-model.js';
import type { LabelledExamples } from '../data/dataset.js';
import { evaluate, type EvalResult } from '../model/train.js';
import type { Params } from '../model/params.js';
import type { ModelConfig } from '../model/encoder.js';
import type { LoraOptions } from '../model/layers.js';
import { toNamedArrays } from './lora-setup.js';

/**
 * The full FM with LoRA and a head on the server: where the aggregated vector is plugged in
 * for evaluation (METHOD.md step 5) and the teacher of alignment. Its trainable names are the
 * plug-in contract: a method's global vector is written into exactly these tensors.
 */
export class FullModel {
  private constructor(readonly model: ClientModel) {}

  static async create(cfg: ModelConfig, params: Params, trainable: string[], lora: LoraOptions): Promise<FullModel> {
    return new FullModel(new ClientModel({ config: cfg, tensors: await toNamedArrays(params), trainable, lora }));
  }

  plugIn(global: Float32Array): void {
    this.model.setTrainable(global);
  }

  evaluate(global: Float32Array, validation: LabelledExamples): Promise<EvalResult> {
    this.plugIn(global);
    return evaluate((x) => this.model.forward(x), validation.features, validation.labels, validation.featureSize);
  }

  dispose(): void {
    this.model.dispose();
  }
}
