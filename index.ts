/**
 * fedpft as a library: run scenarios from code, and write methods in your own repository
 * (docs/ADDING-A-METHOD.md). Everything a method needs is exported here; import nothing from
 * fedpft's internal paths, which may move. Like cli.ts, it wires the actor hosts into src/.
 */
import { ACTOR_HOSTS } from './actors/open-host.js';
import { runScenario as runOn, type RunOptions as RunOn, type RunOutcome } from './src/run/run-scenario.js';
export * as tf from '@tensorflow/tfjs-core';
export { z } from 'zod';

// Running scenarios.
export { stopAfter, type RoundObserver, type RoundTiming } from './src/run/recorder.js';
export type { RunOutcome, ClientHosts } from './src/run/run-scenario.js';
export type { ClientHost } from './src/run/client-host.js';
export { loadScenario, parseScenario } from './src/scenario/load.js';
export type { Scenario, MethodOptions } from './src/scenario/schema.js';
export { scenarioJsonSchema } from './src/methods/method-schema.js';

// Defining a method.
export { defineMethod, isMethodDefinition, type ClientHalf, type ClientTrainContext, type MethodDefinition, type MethodSpec, type OptionsOf, type Probe } from './src/methods/define.js';
export type { AggregateContext, AggregatedRound, ClientModelSpec, Method, MethodContext, MethodSetup, ProbeRequest, RoundHookResult, RoundRequest } from './src/methods/method.js';
export { BUILTIN_METHODS, builtinMethod } from './src/methods/registry.js';
/** Option schemas with fedpft's one-line error messages, for a method's `options`. */
export { alignSchema, distillSchema, headSchema, loraSchema } from './src/scenario/schema.js';
export { int, mapping, nonNegative, oneOf, positive } from './src/scenario/fields.js';

// The server half's pieces.
export { fedAvg, type ClientUpdate } from './src/fl/fedavg.js';
export { FullModel } from './src/methods/full-model.js';
export { headFacts, toNamedArrays, trainableNames, withLoraAndHead } from './src/methods/lora-setup.js';
export { distill, type DistillOptions } from './src/proxy/distill.js';
export { partition, type Partition, type PartitionSpec } from './src/data/partition.js';
export type { FrozenPatch } from './src/client/frozen-patch.js';
export type { NamedArray } from './src/model/safetensors.js';
export type { EvalResult } from './src/model/train.js';

// The client half's pieces.
export { ClientModel } from './src/client/client-model.js';
export { localTrain, type LocalTrainOptions, type SharedImages, type TrainResult, type TrainTask } from './src/client/local-train.js';
export { apozProbe, type ApozPayload, type ApozReport } from './src/client/apoz-probe.js';
export type { ProbeTask } from './src/client/probe-protocol.js';
export type { MethodRef } from './src/client/method-ref.js';

export type RunOptions = Omit<RunOn, 'hosts'> & Partial<Pick<RunOn, 'hosts'>>;

/** Runs a scenario on its runtime.actors host (threads, processes or a broker). */
export function runScenario(opts: RunOptions): Promise<RunOutcome> {
  return runOn({ hosts: ACTOR_HOSTS, ...opts });
}
