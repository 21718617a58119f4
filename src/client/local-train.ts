import * as tf from '@tensorflow/tfjs-core';
import { AdamW, DEFAULT_ADAMW } from '../model/adamw.js';
import { crossEntropy, gatherBatch, trainStep } from '../model/train.js';
import { stream } from '../util/rng.js';
import type { ClientModel } from './client-model.js';
import type { MethodRef } from './method-ref.js';
import type { ProbeRequest } from './probe-protocol.js';

/** One simulated client's work in a round: the inputs fully determine the output. */
export interface TrainTask {
  round: number;
  clientId: number;
  seed: number;
  lr: number;
  weightDecay: number;
  epochs: number;
  batchSize: number;
  /** Clip each step's gradients to this global L2 norm; 0: no clipping. */
  maxGradNorm: number;
  /** The global trainable vector (transferred, not copied). */
  weights: Float32Array;
  /** Indices of this client's examples in the shared training set. */
  indices: Int32Array;
  /** The method whose client half runs the task (its train hook, its probes). */
  method: MethodRef;
  /** Answered after training, on the trained model (Method.beforeRound). */
  probe?: ProbeRequest;
  /** A fault injected for testing (faults.* in the scenario); see actors/client-actor.ts. */
  inject?: 'throw' | 'crash' | 'nan';
}

export interface TrainResult {
  clientId: number;
  weights: Float32Array;
  numExamples: number;
  meanLoss: number;
  steps: number;
  trainMs: number;
  /** The answer to the task's probe, when it had one. */
  probe?: unknown;
}

export interface SharedImages {
  /** [n, featureSize] (LabelledExamples.features). */
  features: Float32Array;
  labels: Int32Array;
  featureSize: number;
}

export interface LocalTrainOptions {
  /**
   * A term added to every step's cross-entropy (e.g. FedProx's proximal term), built inside the
   * step's gradient tape from the trainable variables.
   */
  extraLoss?: (vars: ReadonlyMap<string, tf.Variable>) => tf.Scalar;
}

/**
 * Local AdamW epochs over the client's data. Optimizer state is fresh per task; shuffling and
 * dropout come from the (seed, round, client) streams, so any actor computes the same result.
 */
export async function localTrain(model: ClientModel, data: SharedImages, task: TrainTask, opts: LocalTrainOptions = {}): Promise<TrainResult> {
  const t0 = performance.now();
  model.setTrainable(task.weights);
  const optimizer = new AdamW(model.vars, { ...DEFAULT_ADAMW, weightDecay: task.weightDecay });
  const rng = stream(task.seed, 'local', task.round, task.clientId);
  const n = task.indices.length;
  let lossSum = 0;
  let steps = 0;
  try {
    for (let epoch = 0; epoch < task.epochs; epoch++) {
      const order = Int32Array.from(rng.shuffle(Array.from(task.indices)));
      for (let start = 0; start < n; start += task.batchSize) {
        const count = Math.min(task.batchSize, n - start);
        const { x, y } = gatherBatch(data.features, data.labels, data.featureSize, order, start, count);
        const dropoutSeed = rng.seed();
        const { extraLoss } = opts;
        const taskLoss = () => crossEntropy(model.forward(x, { dropoutSeed }), y);
        const loss = extraLoss ? () => tf.add(taskLoss(), extraLoss(model.vars)) as tf.Scalar : taskLoss;
        lossSum += await trainStep(loss, model.vars, optimizer, task.lr, task.maxGradNorm);
        x.dispose();
        steps++;
      }
    }
  } finally {
    optimizer.dispose();
  }
  return {
    clientId: task.clientId,
    weights: await model.getTrainable(),
    numExamples: n,
    meanLoss: steps > 0 ? lossSum / steps : NaN,
    steps,
    trainMs: performance.now() - t0,
  };
}
