/**
 * A federated method as a value: its name, its scenario options, its server half (a Method) and
 * its client half. The built-in methods and a researcher's own module are defined the same way.
 */
import type { z } from 'zod';
import type { ClientModel } from '../client/client-model.js';
import type { SharedImages, TrainResult, TrainTask } from '../client/local-train.js';
import type { ProbeTask } from '../client/probe-protocol.js';
import type { MethodOptions } from '../scenario/schema.js';
import type { Method } from './method.js';

export type { MethodOptions };

/** A probe a client answers after its local training, on its own data and model (FedPFT's APoZ counts). */
export type Probe = (model: ClientModel, data: SharedImages, task: ProbeTask) => Promise<unknown>;

export interface ClientTrainContext<O extends MethodOptions = MethodOptions> {
  /** The resident client model; `model.vars` are the trainable variables, in the global vector's order. */
  model: ClientModel;
  /** The whole training set; the client's own examples are `task.indices`. */
  data: SharedImages;
  task: TrainTask;
  options: O;
}

/** What runs in every client actor, whichever host it lives on. */
export interface ClientHalf<O extends MethodOptions = MethodOptions> {
  /** Replaces the local training step (default: `localTrain`, AdamW on cross-entropy). */
  train?(ctx: ClientTrainContext<O>): Promise<TrainResult>;
  /** Probes by kind, answered when the server's `beforeRound` asks for them. */
  probes?: Readonly<Record<string, Probe>>;
}

const BRAND = Symbol.for('fedpft.method-definition');

export interface MethodDefinition<O extends MethodOptions = MethodOptions> {
  readonly [BRAND]: true;
  /** The scenario's `method.name`. */
  readonly name: string;
  /** One line for the docs and the JSON Schema. */
  readonly description: string;
  /** The method's fields beside `name` (and `module`), validated with the rest of the scenario. */
  readonly options: z.ZodRawShape;
  /** The server half: a fresh Method per run. */
  server(options: O): Method;
  readonly client?: ClientHalf<O>;
}

/** A method's options as its hooks receive them: the schema's output (defaults applied), plus name and module. */
export type OptionsOf<S extends z.ZodRawShape> = z.output<z.ZodObject<S>> & MethodOptions;

export interface MethodSpec<S extends z.ZodRawShape> {
  name: string;
  description: string;
  options: S;
  server(options: OptionsOf<S>): Method;
  client?: ClientHalf<OptionsOf<S>>;
}

const NAME = /^[a-z][a-z0-9-]*$/;
const RESERVED = ['name', 'module'];

/**
 * Defines a method. A user module's default export is one definition (or a list of them); the
 * scenario names it with `method.module` and `method.name`.
 */
export function defineMethod<const S extends z.ZodRawShape>(spec: MethodSpec<S>): MethodDefinition<OptionsOf<S>> {
  if (typeof spec.name !== 'string' || !NAME.test(spec.name)) throw new Error(`defineMethod: name ${JSON.stringify(spec.name)} must be lower-case letters, digits and "-", starting with a letter`);
  if (typeof spec.server !== 'function') throw new Error(`defineMethod(${spec.name}): server must be a function (options) => Method`);
  const reserved = Object.keys(spec.options ?? {}).filter((k) => RESERVED.includes(k));
  if (reserved.length > 0) throw new Error(`defineMethod(${spec.name}): options may not define ${reserved.join(', ')} (the scenario's own fields)`);
  return Object.freeze({ ...spec, options: spec.options ?? {}, [BRAND]: true as const });
}

export function isMethodDefinition(value: unknown): value is MethodDefinition {
  return typeof value === 'object' && value !== null && (value as Record<symbol, unknown>)[BRAND] === true;
}
