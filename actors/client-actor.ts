import * as Comlink from 'comlink';
import * as tf from '@tensorflow/tfjs-core';
import { ClientModel } from '../src/client/client-model.js';
import { runProbe } from '../src/client/probes.js';
import { localTrain, type SharedImages, type TrainResult, type TrainTask } from '../src/client/local-train.js';
import type { ClientModelSpec } from '../src/methods/method.js';
import type { FrozenPatch } from '../src/client/frozen-patch.js';
import { initBackend, type BackendChoice, type BackendInfo } from '../src/tensor/backend.js';
import { hostActor } from './worker-host.js';

export interface ClientActorInit {
  backend: BackendChoice;
  /** The training set, in SharedArrayBuffers: every actor reads the same memory. */
  data: SharedImages;
}

/**
 * A long-lived client actor: it keeps one client model resident and runs any simulated
 * client's round on it. Nothing about a client survives its task.
 */
async function makeClientActor(workerData: unknown) {
  const init = workerData as ClientActorInit;
  const backend = await initBackend(init.backend);
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
    updateFrozen(patches: FrozenPatch[]): void {
      mustModel().updateFrozen(patches);
    },
    train(task: TrainTask): TrainResult {
      if (task.inject === 'throw') throw new Error(`injected task error (round ${task.round}, client ${task.clientId})`);
      if (task.inject === 'crash') process.exit(70);
      const result = localTrain(mustModel(), init.data, task);
      if (task.probe) result.probe = runProbe(task.probe.kind, mustModel(), init.data, { payload: task.probe.payload, indices: task.indices, weights: result.weights });
      if (task.inject === 'nan') result.weights[0] = NaN;
      return Comlink.transfer(result, [result.weights.buffer]);
    },
    numTensors: (): number => tf.memory().numTensors,
  };
}

export type ClientActor = Awaited<ReturnType<typeof makeClientActor>>;

export default hostActor(makeClientActor);
