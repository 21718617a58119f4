import type { FrozenPatch } from '../client/frozen-patch.js';
import type { TaskData } from '../data/dataset.js';
import type { EvalResult } from '../model/train.js';
import type { NamedArray } from '../model/safetensors.js';
import type { LoadedModel, ModelConfig } from '../model/encoder.js';
import type { LoraOptions } from '../model/layers.js';
import type { TextEncoding } from '../text/encode-set.js';
import type { MethodConfig, Scenario } from '../scenario/schema.js';

/** What every client actor holds resident: a model, its frozen weights, and which tensors train. */
export interface ClientModelSpec {
  config: ModelConfig;
  /** All tensors of the client model (internal layout), frozen and trainable. */
  tensors: NamedArray[];
  /** Names of the tensors clients train and exchange, sorted; the global vector follows this order. */
  trainable: string[];
  lora: LoraOptions;
}

export interface MethodContext {
  scenario: Scenario;
  fm: LoadedModel;
  data: TaskData;
  /** Text tasks: how the FM reads text (distillation corpora are tokenized the same way). */
  text?: TextEncoding;
  log: (line: string) => void;
}

export interface MethodSetup {
  clientModel: ClientModelSpec;
  /** The initial global trainable vector (in `clientModel.trainable` order). */
  initial: Float32Array;
  /** Facts worth recording in the run's summary (parameter counts, compression, ...). */
  info: Record<string, unknown>;
}

/** A request a method can send to the round's sampled clients before they train. */
export interface ProbeRequest {
  kind: string;
  payload: unknown;
}

/** What the round loop offers a method's per-round hook. */
export interface RoundContext {
  round: number;
  /** The global trainable vector the round's clients will start from. */
  global: Float32Array;
  sampled: readonly number[];
  /** Runs a probe on each sampled client's data (on any free actor); results in `sampled` order. */
  probe<T>(request: ProbeRequest): Promise<T[]>;
}

export interface RoundHookResult {
  /** Frozen client-model tensors that change; they reach clients with the next round's download. */
  frozenUpdate?: FrozenPatch[];
  /** Bytes each sampled client sent up for the probe. */
  probeBytesUpPerClient?: number;
  /** Facts for rounds.jsonl (e.g. which neurons were realigned). */
  record?: Record<string, unknown>;
}

/**
 * A federated fine-tuning method as a plug-in. The round loop samples, dispatches client
 * tasks, aggregates and logs; a method only says what the clients hold and train, what (if
 * anything) happens before a round, and how the aggregated vector is evaluated (plugged into
 * the full FM).
 */
export interface Method {
  readonly name: string;
  setup(ctx: MethodContext): Promise<MethodSetup>;
  /** Runs before the round's clients train. */
  beforeRound?(ctx: RoundContext): Promise<RoundHookResult>;
  /** Server-side state beyond the global vector that a resumed run needs (e.g. realigned FFNs). */
  exportState?(): NamedArray[];
  /** Restores exportState()'s tensors; returns the frozen client tensors to send to actors. */
  importState?(tensors: NamedArray[]): FrozenPatch[];
  /** Accuracy of the full FM with the global trainable vector plugged in. */
  evaluate(global: Float32Array): EvalResult;
  dispose(): void;
}

export type MethodFactory = (config: MethodConfig) => Method;
