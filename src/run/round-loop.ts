/**
 * The federated rounds (docs/METHOD.md, Setting), as the paper states them. Everything a
 * round records goes through the RoundRecorder; everything a method does, through its hooks.
 */
import type { FrozenPatch } from '../client/frozen-patch.js';
import type { TrainTask } from '../client/local-train.js';
import type { MethodRef } from '../client/method-ref.js';
import { fedAvg } from '../fl/fedavg.js';
import { isFiniteUpdate, planRound } from '../fl/faults.js';
import type { PatchLedger } from '../fl/patch-ledger.js';
import { sampleClients } from '../fl/sampling.js';
import { roundLearningRate } from '../fl/schedule.js';
import type { Method } from '../methods/method.js';
import type { Scenario } from '../scenario/schema.js';
import { RunStoppedError } from '../util/errors.js';
import type { ClientHost } from './client-host.js';
import type { RoundRecorder } from './recorder.js';

export interface RoundLoop {
  scenario: Scenario;
  method: Method;
  methodRef: MethodRef;
  host: ClientHost;
  /** Each client's example indices into the training set. */
  clients: readonly Int32Array[];
  ledger: PatchLedger;
  recorder: RoundRecorder;
  /** Installs frozen-model patches in the server's copy of the client model and in every actor. */
  publish: (patches: FrozenPatch[]) => Promise<void>;
}

/** Runs rounds first..R; returns the last global vector and whether all R rounds ran. */
export async function runRounds(loop: RoundLoop, first: number, initial: Float32Array): Promise<{ global: Float32Array; finished: boolean }> {
  const { scenario, method, host, clients, ledger, recorder } = loop;
  const fed = scenario.federation;
  let global = initial;
  for (let round = first; round <= fed.rounds; round++) {
    recorder.begin();
    // Learning rate: lr0 decayed linearly over the R rounds (or constant).
    const lr = roundLearningRate(fed.learningRate, round, fed.rounds, fed.schedule);
    // Sample K of the N clients, from the seed and the round alone.
    const sampled = sampleClients(scenario.seed, round, fed.clients, fed.clientsPerRound);
    // They download the global vector and every frozen-model patch they have not applied.
    const bytesDown = sampled.length * global.byteLength + ledger.catchUp(sampled);
    // Method hook before the round: what the clients also answer (FedPFT's APoZ probe, before an alignment).
    const probe = round < fed.rounds ? ((await method.beforeRound?.(round))?.probe ?? null) : null;
    // Dispatch: each participant trains locally on an actor; dropouts and stragglers as the scenario injects them.
    const steps = (c: number) => fed.localEpochs * Math.ceil((clients[c] as Int32Array).length / fed.batchSize);
    const plan = planRound(scenario.seed, round, sampled, scenario.faults, steps);
    const task = (clientId: number): TrainTask => ({
      round, clientId, seed: scenario.seed, lr, weightDecay: fed.weightDecay, epochs: fed.localEpochs, batchSize: fed.batchSize, maxGradNorm: fed.maxGradNorm, method: loop.methodRef,
      weights: global.slice(),
      indices: (clients[clientId] as Int32Array).slice(),
      ...(probe ? { probe } : {}),
      ...(plan.inject.has(clientId) ? { inject: plan.inject.get(clientId) } : {}),
    });
    const events = recorder.events(round, scenario.faults.maxRetries);
    const arrived = await recorder.time('dispatch', () => Promise.all(plan.participants.map((c) => host.train(() => task(c), scenario.faults.maxRetries, events))));
    arrived.sort((a, b) => a.clientId - b.clientId);
    // Aggregate the finite updates: FedAvg, or the method's own rule. None usable: the global vector stays.
    const rejected = arrived.filter((r) => !isFiniteUpdate(r.weights)).map((r) => r.clientId);
    if (rejected.length > 0) {
      if (scenario.faults.onDivergence === 'stop') throw new RunStoppedError(`round ${round}: client ${rejected.join(', ')} sent an update with NaN or Inf (faults.onDivergence: stop); the run stops at its last checkpoint, round ${round - 1}`);
      recorder.log(`round ${round}: rejected the NaN/Inf update of client ${rejected.join(', ')}`);
    }
    const aggregated = arrived.filter((r) => !rejected.includes(r.clientId));
    if (aggregated.length > 0) global = method.aggregate ? method.aggregate(aggregated, { round, global, weighting: fed.aggregation }) : fedAvg(aggregated, fed.aggregation);
    // Method hook after aggregation (FedPFT's realignment); the last round's would go unused.
    const reports = probe ? aggregated.map((r) => r.probe) : [];
    const aggregate = { round, global, clients: aggregated.map((r) => r.clientId), reports };
    const hook = method.afterAggregate && round < fed.rounds ? await recorder.time('hook', async () => (await method.afterAggregate?.(aggregate)) ?? {}) : {};
    // Evaluate the full FM with the global vector plugged in, every evalEvery rounds and at the end.
    const evaluation = round % fed.evalEvery === 0 || round === fed.rounds ? await recorder.time('eval', () => method.evaluate(global)) : null;
    // Record the round and checkpoint it; the round's frozen patches go to every actor.
    const outcome = { round, lr, sampled, plan, arrived, aggregated, rejected, bytesDown, hook, evaluation, global, methodState: async () => (await method.exportState?.()) ?? [] };
    const stop = await recorder.end(outcome, () => loop.publish(hook.frozenUpdate ?? []));
    if (stop && round < fed.rounds) return { global, finished: false };
  }
  return { global, finished: true };
}
