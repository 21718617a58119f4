/**
 * fedpft as a library: run scenarios from code, and write methods in your own repository
 * (docs/ADDING-A-METHOD.md). Everything a method needs is exported here; import nothing from
 * fedpft's internal paths, which may move.
 */
export * as tf from '@tensorflow/tfjs-core';
export { z } from 'zod';

// Running scenarios.
export { runScenario, type RunOptions, type RunOutcome } from '../actors/server.js';
export { loadScenario, parseScenario } from './scenario/load.js';
export type { Scenario, MethodOptions } from './scenario/schema.js';
export { scenarioJsonSchema } from './methods/method-schema.js';

// Defining a method.
export { defineMethod, isMethodDefinition, type ClientHalf, type ClientTrainContext, type MethodDefinition, type MethodSpec, type OptionsOf, type Probe } from './methods/define.js';
export type { AggregateContext, AggregatedRound, ClientModelSpec, Method, MethodContext, MethodSetup, ProbeRequest, RoundHookResult } from './methods/method.js';
export { BUILTIN_METHODS, builtinMethod } from './methods/registry.js';
/** Option schemas with fedpft's one-line error messages, for a method's `options`. */
export { alignSchema, distillSchema, headSchema, int, loraSchema, mapping, nonNegative, oneOf, positive } from './scenario/schema.js';

// The server half's pieces.
export { fedAvg, type ClientUpdate } from './fl/fedavg.js';
export { FullModel } from './methods/full-model.js';
export { headFacts, toNamedArrays, trainableNames, withLoraAndHead } from './methods/lora-setup.js';
export { distill, type DistillOptions } from './proxy/distill.js';
export { partition, type Partition, type PartitionSpec } from './data/partition.js';
export type { FrozenPatch } from './client/frozen-patch.js';
export type { NamedArray } from './model/safetensors.js';
export type { EvalResult } from './model/train.js';

// The client half's pieces.
export { ClientModel } from './client/client-model.js';
export { localTrain, type LocalTrainOptions, type SharedImages, type TrainResult, type TrainTask } from './client/local-train.js';
export { apozProbe, type ApozPayload, type ApozReport } from './client/apoz-probe.js';
export type { ProbeTask } from './client/probe-protocol.js';
export type { MethodRef } from './client/method-ref.js';
