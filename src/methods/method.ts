import type { TaskData } from '../data/dataset.js';
import type { EvalResult } from '../model/train.js';
import type { NamedArray } from '../model/safetensors.js';
import type { LoadedVit } from '../model/vit-checkpoint.js';
import type { LoraOptions, VitConfig } from '../model/vit.js';
import type { MethodConfig, Scenario } from '../scenario/schema.js';

/** What every client actor holds resident: a model, its frozen weights, and which tensors train. */
export interface ClientModelSpec {
  arch: 'vit';
  config: VitConfig;
  /** All tensors of the client model (internal layout), frozen and trainable. */
  tensors: NamedArray[];
  /** Names of the tensors clients train and exchange, sorted; the global vector follows this order. */
  trainable: string[];
  lora: LoraOptions;
}

export interface MethodContext {
  scenario: Scenario;
  fm: LoadedVit;
  data: TaskData;
  log: (line: string) => void;
}

export interface MethodSetup {
  clientModel: ClientModelSpec;
  /** The initial global trainable vector (in `clientModel.trainable` order). */
  initial: Float32Array;
  /** Facts worth recording in the run's summary (parameter counts, compression, ...). */
  info: Record<string, unknown>;
}

/**
 * A federated fine-tuning method as a plug-in. The round loop samples, dispatches client
 * tasks, aggregates and logs; a method only says what the clients hold and train, and how the
 * aggregated vector is evaluated (plugged into the full FM).
 */
export interface Method {
  readonly name: string;
  setup(ctx: MethodContext): Promise<MethodSetup>;
  /** Accuracy of the full FM with the global trainable vector plugged in. */
  evaluate(global: Float32Array): EvalResult;
  dispose(): void;
}

export type MethodFactory = (config: MethodConfig) => Method;
