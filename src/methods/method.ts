import type { FrozenPatch } from '../client/frozen-patch.js';
import type { ProbeRequest } from '../client/probe-protocol.js';
import type { TaskData } from '../data/dataset.js';
import type { EvalResult } from '../model/train.js';
import type { NamedArray } from '../model/safetensors.js';
import type { LoadedModel, ModelConfig } from '../model/encoder.js';
import type { LoraOptions } from '../model/layers.js';
import type { TextEncoding } from '../text/encode-set.js';
import type { Scenario } from '../scenario/schema.js';
import type { ClientUpdate } from '../fl/fedavg.js';

export type { ProbeRequest };

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

/** What a method asks of a round's clients (Method.beforeRound). */
export interface RoundRequest {
  probe?: ProbeRequest;
}

/** What the round loop tells a method's aggregate hook. */
export interface AggregateContext {
  round: number;
  /** The global vector the round's clients started from. */
  global: Float32Array;
  weighting: 'weighted' | 'uniform';
}

/** What the round loop offers a method once a round is aggregated. */
export interface AggregatedRound {
  round: number;
  /** The round's aggregated global trainable vector, the one the next round starts from. */
  global: Float32Array;
  /** Clients whose updates were aggregated, ascending. */
  clients: readonly number[];
  /** Their answers to the round's probe (beforeRound), in `clients` order (empty without a probe). */
  reports: readonly unknown[];
}

export interface RoundHookResult {
  /** Frozen client-model tensors that change; every client downloads them before it next trains. */
  frozenUpdate?: FrozenPatch[];
  /** Bytes the round's clients sent up for the probe, all together. */
  probeBytesUp?: number;
  /** Facts for rounds.jsonl (e.g. which neurons were realigned). */
  record?: Record<string, unknown>;
}

/**
 * A federated fine-tuning method as a plug-in. The round loop samples, dispatches client
 * tasks, aggregates and logs; a method only says what the clients hold and train, what (if
 * anything) clients report besides their update and happens after aggregation, and how the aggregated vector is evaluated (plugged into
 * the full FM).
 */
export interface Method {
  readonly name: string;
  setup(ctx: MethodContext): Promise<MethodSetup>;
  /**
   * Before a round's dispatch: what the round's clients answer besides their update, after their
   * local training, on their own data and model (FedPFT's APoZ counts). Never asked for the last
   * round, whose answers nothing would use.
   */
  beforeRound?(round: number): Promise<RoundRequest>;
  /**
   * The round's new global vector from its usable client updates (ascending client id). Default:
   * FedAvg with `federation.aggregation`'s weighting. State it keeps (e.g. server momentum)
   * belongs in exportState, so a resumed run continues it.
   */
  aggregate?(updates: readonly ClientUpdate[], ctx: AggregateContext): Float32Array;
  /** Runs after a round's aggregation, before the next round; never after the last round. */
  afterAggregate?(ctx: AggregatedRound): Promise<RoundHookResult>;
  /** Server-side state beyond the global vector that a resumed run needs (e.g. realigned FFNs). */
  exportState?(): Promise<NamedArray[]>;
  /** Restores exportState()'s tensors; returns the frozen client tensors to send to actors. */
  importState?(tensors: NamedArray[]): Promise<FrozenPatch[]>;
  /** Accuracy of the full FM with the global trainable vector plugged in. */
  evaluate(global: Float32Array): Promise<EvalResult>;
  dispose(): void;
}
