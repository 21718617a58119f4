import * as Comlink from 'comlink';
import * as tf from '@tensorflow/tfjs-core';
import { ClientModel } from '../src/client/client-model.js';
import { localTrain, type SharedImages, type TrainResult, type TrainTask } from '../src/client/local-train.js';
import type { ClientModelSpec } from '../src/methods/method.js';
import type { FrozenPatch } from '../src/client/frozen-patch.js';
import { initBackend, type BackendChoice, type BackendInfo } from '../src/tensor/backend.js';
import { BACKEND_CHOICES, isBackendChoice, type KernelSet } from '../src/tensor/backend-choices.js';
import { loadCheckedTrainingSet, type TrainingSource } from '../src/scenario/task-data.js';
import { resolveRef } from '../src/methods/user-module.js';
import { hostActor } from './worker-host.js';

/** The training set an actor reads: shared memory from the server's process, or loaded by the actor. */
export type ActorData =
  /** In SharedArrayBuffers (threads): every actor reads the server's memory. */
  | { kind: 'shared'; data: SharedImages }
  /** Loaded in the actor's own process and checked against the server's hash (processes, broker workers). */
  | { kind: 'source'; source: TrainingSource; sha256: string };

export interface ClientActorInit {
  backend: BackendChoice;
  kernels: KernelSet;
  data: ActorData;
}

/**
 * Set in an actor's environment only, it overrides the backend the server asks for: the way to
 * test that a run refuses actors whose backend differs from the server's.
 */
export const ACTOR_BACKEND_ENV = 'FEDPFT_ACTOR_BACKEND';

function actorBackendChoice(asked: BackendChoice): BackendChoice {
  const forced = process.env[ACTOR_BACKEND_ENV];
  if (forced === undefined || forced === '') return asked;
  if (!isBackendChoice(forced)) throw new Error(`${ACTOR_BACKEND_ENV}=${forced}: expected one of ${BACKEND_CHOICES.join(' | ')}`);
  return forced;
}

/** The training set an actor trains on; one loaded here must hash as the server's does, or the actor refuses to start. */
export function loadActorData(data: ActorData): SharedImages {
  if (data.kind === 'shared') return data.data;
  const set = loadCheckedTrainingSet(data.source, data.sha256);
  return { features: set.features, labels: set.labels, featureSize: set.featureSize };
}

/**
 * A long-lived client actor: it keeps one client model resident and runs any simulated
 * client's round on it. Nothing about a client survives its task.
 */
async function makeClientActor(workerData: unknown) {
  const init = workerData as ClientActorInit;
  const backend = await initBackend(actorBackendChoice(init.backend), init.kernels);
  const data = loadActorData(init.data);
  let model: ClientModel | null = null;
  const mustModel = (): ClientModel => {
    if (!model) throw new Error('client actor: loadModel() has not been called');
    return model;
  };
  return {
    backend: (): BackendInfo => backend,
    loadModel(spec: ClientModelSpec): void {
      model?.dispose();
      model = new ClientModel(spec);
    },
    updateFrozen(patches: FrozenPatch[]): Promise<void> {
      return mustModel().updateFrozen(patches);
    },
    async train(task: TrainTask): Promise<TrainResult> {
      if (task.inject === 'throw') throw new Error(`injected task error (round ${task.round}, client ${task.clientId})`);
      if (task.inject === 'crash') process.exit(70);
      // The method's client half: its own training step if it has one, and its probes.
      const { client } = await resolveRef(task.method);
      const model = mustModel();
      const result = client?.train ? await client.train({ model, data, task, options: task.method.options }) : await localTrain(model, data, task);
      if (task.probe) {
        const probe = client?.probes?.[task.probe.kind];
        if (!probe) throw new Error(`method ${task.method.options.name} has no client probe "${task.probe.kind}"`);
        result.probe = await probe(model, data, { payload: task.probe.payload, indices: task.indices, weights: result.weights });
      }
      if (task.inject === 'nan') result.weights[0] = NaN;
      return Comlink.transfer(result, [result.weights.buffer]);
    },
    numTensors: (): number => tf.memory().numTensors,
  };
}

export type ClientActor = Awaited<ReturnType<typeof makeClientActor>>;

export default hostActor(makeClientActor);
