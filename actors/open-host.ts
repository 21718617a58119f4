import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

import { examplesHash, toShared, type LabelledExamples } from '../src/data/dataset.js';
import { isTextTask } from '../src/data/names.js';
import type { ActorHostChoice } from '../src/scenario/actor-hosts.js';
import type { Scenario } from '../src/scenario/schema.js';
import { loadScenarioTask, trainingSource, type TrainingSource } from '../src/scenario/task-data.js';
import { backendLabel, initBackend } from '../src/tensor/backend.js';
import { choiceOf } from '../src/tensor/backend-choices.js';
import type { ActorData, ClientActor, ClientActorInit } from './client-actor.js';
import type { ClientHost } from '../src/run/client-host.js';
import type { ClientHosts } from '../src/run/run-scenario.js';
import { DeviceScheduler } from './device-scheduler.js';
import { BrokerHost } from './broker-host.js';
import { PoolHost } from './pool-host.js';
import { ActorPool } from './pool.js';

// Under vitest this module runs from source, where only the compiled worker exists.
export const CLIENT_ACTOR = [new URL('./client-actor.js', import.meta.url), new URL('../dist/actors/client-actor.js', import.meta.url)]
  .map((u) => fileURLToPath(u))
  .find((f) => existsSync(f)) as string;

/** What a client host depends on: the training set its actors hold, their backend, host and count. */
export function clientPoolKey(scenario: Scenario): string {
  const { dataset, trainLimit, maxLength, files } = scenario.task;
  const { backend, kernels, workers, devices, actors, broker } = scenario.runtime;
  // Text is tokenized by the FM's tokenizer, so the FM directory and length shape the data too.
  const text = isTextTask(dataset) ? { model: scenario.model.dir, maxLength } : null;
  return JSON.stringify({ dataset, trainLimit: trainLimit ?? null, files: files ?? null, text, backend, kernels, workers, devices: devices ?? null, actors, broker: broker ?? null });
}

/**
 * The host a scenario's actors run on. The tensorflow binding loads in one thread per process
 * (tensorflow/tfjs#8388), so on that backend thread actors become processes.
 */
export function effectiveHost(choice: ActorHostChoice, backendName: string): ActorHostChoice {
  return choice === 'threads' && backendName.startsWith('tensorflow') ? 'processes' : choice;
}

/** The training set as an actor receives it: shared memory in threads, a source to load and check in a process. */
export function actorData(host: 'threads' | 'processes', source: TrainingSource, train: LabelledExamples): ActorData {
  if (host === 'threads') {
    const { features, labels, featureSize } = toShared(train);
    return { kind: 'shared', data: { features, labels, featureSize } };
  }
  return { kind: 'source', source, sha256: examplesHash(train) };
}

/** Opens the client actors for a scenario's training set (loaded here unless given) on its host. */
export async function openClientHost(scenario: Scenario, train = loadScenarioTask(scenario).train): Promise<ClientHost> {
  const backend = await initBackend(scenario.runtime.backend, scenario.runtime.kernels);
  const host = effectiveHost(scenario.runtime.actors, backend.name);
  if (host === 'broker') return BrokerHost.open(clientPoolKey(scenario), scenario, train, backend);
  const workerData: ClientActorInit = { backend: choiceOf(backend.name), kernels: backend.kernels, data: actorData(host, trainingSource(scenario), train) };
  // webgpu runs on a device even on lavapipe: its slots are what runtime.devices.gpu sets.
  const deviceKind = backend.name === 'tensorflow-gpu' || backend.name === 'webgpu' ? 'gpu' : 'cpu';
  const slots = scenario.runtime.devices?.[deviceKind]?.slots ?? scenario.runtime.workers;
  const pool = await ActorPool.open<ClientActor>({
    workers: scenario.runtime.workers,
    host,
    workerFile: CLIENT_ACTOR,
    workerData,
    deviceKind,
    scheduler: new DeviceScheduler({ [deviceKind]: slots }),
  });
  return PoolHost.over(clientPoolKey(scenario), host, pool, backendLabel(backend));
}

/** The actor hosts as the round loop and the commands take them (src/ knows only the interface). */
export const ACTOR_HOSTS: ClientHosts = { open: openClientHost, key: clientPoolKey };
