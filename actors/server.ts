import * as tf from '@tensorflow/tfjs-core';
import { join } from 'node:path';
import type { TaskData } from '../src/data/dataset.js';
import { partition } from '../src/data/partition.js';
import { fedAvg } from '../src/fl/fedavg.js';
import { isFiniteUpdate, planRound } from '../src/fl/faults.js';
import { sampleClients } from '../src/fl/sampling.js';
import { PatchLedger } from '../src/fl/patch-ledger.js';
import { roundLearningRate } from '../src/fl/schedule.js';
import { methodRef, resolveMethod } from '../src/methods/user-module.js';
import { initModelParams, inputMismatch, isText, loadModel } from '../src/model/encoder.js';
import { isTextTask } from '../src/data/names.js';
import { loadScenarioTask } from '../src/scenario/task-data.js';
import { Rng } from '../src/util/rng.js';
import { describeEnvironment } from '../src/results/environment.js';
import { applyPatch, patchBytes, type FrozenPatch } from '../src/client/frozen-patch.js';
import { RunDir, weightsHash, type RoundRecord } from '../src/results/run-dir.js';
import { formatRunTable, type RunSummary } from '../src/report/summary-table.js';
import type { Scenario } from '../src/scenario/schema.js';
import { initBackend } from '../src/tensor/backend.js';
import { RunStoppedError, UserError } from '../src/util/errors.js';
import { lockDir } from '../src/util/dir-lock.js';
import type { ClientHost } from './client-host.js';
import { clientPoolKey, openClientHost } from './open-host.js';

export interface RunOptions {
  scenario: Scenario;
  resultsRoot: string;
  /** Continue the named run, or the newest unfinished one when true. */
  resume?: string | true;
  runId?: string;
  /** Stop after this round (checkpointed), as a crash would; for tests of resume. */
  stopAfterRound?: number;
  log?: (line: string) => void;
  /** Wall-clock breakdown of every round, for `fedpft bench`; never written to rounds.jsonl. */
  onRoundTiming?: (timing: RoundTiming) => void;
  /**
   * An open client host (openClientHost) to run on, left open afterwards, so the runs of a grid
   * share one set of actors; its key must be this scenario's clientPoolKey. Default: a host of
   * the run's own, closed at the end.
   */
  host?: ClientHost;
}

/** Where a round's wall time went (seconds); timings differ between identical runs, so they stay out of the results. */
export interface RoundTiming {
  round: number;
  /** The whole iteration, from sampling to the checkpoint and the log line. */
  wallSeconds: number;
  /** The method's afterAggregate hook (realignment); 0 when it has none. */
  hookSeconds: number;
  /** From dispatching the first client task until the last update arrived. */
  dispatchSeconds: number;
  /** Per actor slot: summed local training time (TrainResult.trainMs) of the tasks it completed this round. */
  workerBusySeconds: number[];
  /** method.evaluate; 0 in rounds without evaluation. */
  evalSeconds: number;
}

export interface RunOutcome {
  dir: string;
  summary: RunSummary | null;
  rounds: RoundRecord[];
}

function defaultRunId(): string {
  return new Date().toISOString().replace(/[-:]/g, '').replace(/\..*/, '');
}

/**
 * The server actor: owns the FM, the round loop, sampling, aggregation and evaluation.
 * Every check of the user's input happens before the run directory is created.
 */
export async function runScenario(opts: RunOptions): Promise<RunOutcome> {
  const { scenario } = opts;
  const log = opts.log ?? ((line: string) => console.log(line));
  const fed = scenario.federation;
  const backend = await initBackend(scenario.runtime.backend, scenario.runtime.kernels);
  const fm = loadModel(scenario.model.dir);
  if (scenario.model.init === 'random') {
    const drawn = initModelParams(fm.cfg, new Rng(`${scenario.seed}/random-fm`));
    for (const t of fm.params.values()) t.dispose();
    fm.params = drawn;
  }
  const fail = (message: string): never => {
    for (const t of fm.params.values()) t.dispose();
    throw new UserError(scenario.model.dir, 'config.json', message);
  };
  if (isTextTask(scenario.task.dataset) !== isText(fm.cfg)) {
    fail(`the ${fm.cfg.modelType} FM cannot read ${scenario.task.dataset} (${isText(fm.cfg) ? 'a text FM needs a text task' : 'an image FM needs an image task'})`);
  }
  const text = fm.tokenizer ? { tokenizer: fm.tokenizer, maxLength: scenario.task.maxLength } : undefined;
  let data: TaskData;
  try {
    data = loadScenarioTask(scenario, text);
  } catch (err) {
    for (const t of fm.params.values()) t.dispose();
    throw err;
  }
  const { train } = data;
  const mismatch = inputMismatch(fm.cfg, train.input, scenario.task.dataset, fm.tokenizer);
  if (mismatch) fail(mismatch);
  const parts = partition(train.labels, train.numClasses, fed.clients, scenario.partition, scenario.seed);
  const method = (await resolveMethod(scenario.method)).server(scenario.method);
  const methodOfTasks = methodRef(scenario.method);
  const setup = await method.setup({ scenario, fm, data, log, text });
  for (const t of fm.params.values()) t.dispose();

  if (opts.host && opts.host.key !== clientPoolKey(scenario)) throw new Error(`runScenario: the shared host holds ${opts.host.key}, this run needs ${clientPoolKey(scenario)}`);
  // Before the run directory: actors that cannot start (a mixed backend, an unreachable broker) leave nothing under results/.
  const host = opts.host ?? (await openClientHost(scenario, train));
  const closeHost = () => (opts.host ? Promise.resolve() : host.close());
  let dir: RunDir;
  let unlock: () => void;
  try {
    dir = opts.resume ? RunDir.open(opts.resultsRoot, scenario.name, opts.resume === true ? undefined : opts.resume) : RunDir.create(opts.resultsRoot, scenario.name, opts.runId ?? defaultRunId());
    unlock = lockDir(dir.path, 'run');
  } catch (err) {
    await closeHost();
    throw err;
  }
  let global = setup.initial;
  let startRound = 1;
  let rounds: RoundRecord[] = [];
  let restoredFrozen: FrozenPatch[] = [];
  // Until the round loop's finally takes over, a failed check must still release the run.
  try {
    if (opts.resume) {
      const saved = dir.readJson<Scenario>('scenario.json');
      // The runtime section (workers, backend choice, host) does not change results, so it may
      // differ; the kernel set does (runs from before kernel sets were exact).
      const resultsOf = (s: Scenario) => JSON.stringify({ ...s, runtime: { kernels: s.runtime.kernels ?? 'exact' } });
      if (resultsOf(saved) !== resultsOf(scenario)) throw new UserError(dir.path, 'scenario.json', 'the scenario (or its runtime.kernels) changed since this run started; start a new run instead');
      const ckpt = dir.loadCheckpoint();
      if (ckpt) {
        if (ckpt.global.length !== global.length) throw new UserError(join(dir.path, 'checkpoint.safetensors'), 'global', `${ckpt.global.length} values, this scenario's method trains ${global.length}`);
        global = ckpt.global;
        startRound = ckpt.round + 1;
        if (ckpt.methodState.length > 0) restoredFrozen = (await method.importState?.(ckpt.methodState)) ?? [];
      }
      rounds = dir.rounds(startRound - 1);
      log(`resuming ${dir.path} at round ${startRound}`);
    } else {
      dir.writeJson('environment.json', describeEnvironment(backend, scenario.runtime.workers, host.kind));
      dir.writeJson('partition.json', { family: parts.family, alpha: parts.alpha, imbalance: parts.imbalance, seed: parts.seed, classOrder: parts.classOrder, sizes: parts.clients.map((c) => c.length), mixes: parts.mixes });
      // Last: scenario.json marks a run that can be resumed, so a kill before it leaves none half-started.
      dir.writeJson('scenario.json', scenario);
    }

  } catch (err) {
    unlock();
    await closeHost();
    throw err;
  }
  const clientIndices = parts.clients.map((c) => Int32Array.from(c));
  // Rebuilt from the kept rounds on resume: the records say who was sampled and what was published.
  const ledger = PatchLedger.replay(fed.clients, rounds);
  const runStart = performance.now();
  try {
    // The server keeps the client model as actors hold it, so a replaced actor can catch up.
    const clientModel = setup.clientModel;
    const applyToSpec = (patches: readonly FrozenPatch[]) => {
      for (const patch of patches) {
        const t = clientModel.tensors.find((x) => x.name === patch.name);
        if (!t) throw new Error(`frozen update for unknown tensor ${patch.name}`);
        t.data = applyPatch(t.data, t.shape, patch);
      }
    };
    applyToSpec(restoredFrozen);
    await host.loadModel(clientModel);
    log(`${scenario.name}: ${method.name} on ${scenario.task.dataset}, ${fed.clients} clients (${parts.family}${parts.alpha === null ? '' : ` alpha=${parts.alpha}`}), ${fed.clientsPerRound}/round, ${fed.rounds} rounds, ${host.size} workers, backend ${backend.name}`);
    const lastRound = Math.min(fed.rounds, opts.stopAfterRound ?? fed.rounds);
    for (let round = startRound; round <= lastRound; round++) {
      const t0 = performance.now();
      const workerBusyMs: number[] = Array.from({ length: host.size }, () => 0);
      const lr = roundLearningRate(fed.learningRate, round, fed.rounds, fed.schedule);
      const sampled = sampleClients(scenario.seed, round, fed.clients, fed.clientsPerRound);
      // Clients download the global vector and every frozen-model patch they have not applied.
      const bytesDown = sampled.length * global.byteLength + ledger.catchUp(sampled);
      const probe = round < fed.rounds ? (method.clientProbe?.(round) ?? null) : null;
      const steps = (c: number) => fed.localEpochs * Math.ceil((clientIndices[c] as Int32Array).length / fed.batchSize);
      const plan = planRound(scenario.seed, round, sampled, scenario.faults, steps);
      const tDispatch = performance.now();
      const arrived = await Promise.all(
        plan.participants.map((clientId) =>
          host.train(
            () => ({
              round, clientId, seed: scenario.seed, lr, weightDecay: fed.weightDecay, epochs: fed.localEpochs, batchSize: fed.batchSize, maxGradNorm: fed.maxGradNorm, method: methodOfTasks,
              weights: global.slice(),
              indices: (clientIndices[clientId] as Int32Array).slice(),
              ...(probe ? { probe } : {}),
              ...(plan.inject.has(clientId) ? { inject: plan.inject.get(clientId) } : {}),
            }),
            scenario.faults.maxRetries,
            {
              onRetry: (c, attempt, err) => log(`round ${round}: client ${c} failed (${err.message.split('\n')[0]}); retry ${attempt}/${scenario.faults.maxRetries}`),
              onDone: (result, slot) => (workerBusyMs[slot] = (workerBusyMs[slot] as number) + result.trainMs),
            },
          ),
        ),
      );
      const dispatchMs = performance.now() - tDispatch;
      arrived.sort((a, b) => a.clientId - b.clientId);
      const rejected = arrived.filter((r) => !isFiniteUpdate(r.weights)).map((r) => r.clientId);
      if (rejected.length > 0) {
        if (scenario.faults.onDivergence === 'stop') throw new RunStoppedError(`round ${round}: client ${rejected.join(', ')} sent an update with NaN or Inf (faults.onDivergence: stop); the run stops at its last checkpoint, round ${round - 1}`);
        log(`round ${round}: rejected the NaN/Inf update of client ${rejected.join(', ')}`);
      }
      const results = arrived.filter((r) => !rejected.includes(r.clientId));
      // No usable update: the global model stays as it was.
      if (results.length > 0) global = method.aggregate ? method.aggregate(results, { round, global, weighting: fed.aggregation }) : fedAvg(results, fed.aggregation);
      // The method's step after aggregation (FedPFT's realignment); the last round's would go unused.
      const tHook = performance.now();
      const hook =
        method.afterAggregate && round < fed.rounds
          ? await method.afterAggregate({ round, global, clients: results.map((r) => r.clientId), reports: probe ? results.map((r) => r.probe) : [] })
          : {};
      const hookMs = performance.now() - tHook;
      const frozenUpdate = hook.frozenUpdate ?? [];
      const record: RoundRecord = {
        round,
        lr,
        clients: sampled,
        meanTrainLoss: results.length > 0 ? results.reduce((s, r) => s + r.meanLoss, 0) / results.length : null,
        wallSeconds: 0,
        clientTrainSeconds: arrived.reduce((s, r) => s + r.trainMs, 0) / 1000,
        clientSteps: arrived.reduce((s, r) => s + r.steps, 0),
        bytesUp: arrived.reduce((s, r) => s + r.weights.byteLength, 0) + (hook.probeBytesUp ?? 0),
        bytesDown,
        ...(plan.dropped.length + plan.late.length + rejected.length > 0 ? { faults: { dropped: plan.dropped, late: plan.late, rejected } } : {}),
        ...(hook.record ? { method: hook.record } : {}),
        ...(frozenUpdate.length > 0 ? { frozenPatchBytes: patchBytes(frozenUpdate) } : {}),
      };
      let evalMs = 0;
      if (round % fed.evalEvery === 0 || round === fed.rounds) {
        const tEval = performance.now();
        const ev = await method.evaluate(global);
        evalMs = performance.now() - tEval;
        record.accuracy = ev.accuracy;
        record.evalLoss = ev.loss;
      }
      // Live tensor counts: a run whose counts grow leaks, whatever its accuracy says.
      record.tensors = { server: tf.memory().numTensors, actorMax: await host.numTensors() };
      record.wallSeconds = (performance.now() - t0) / 1000;
      if (frozenUpdate.length > 0) {
        applyToSpec(frozenUpdate);
        await host.updateFrozen(frozenUpdate);
        ledger.publish(patchBytes(frozenUpdate));
      }
      dir.appendRound(record);
      dir.saveCheckpoint({ round, global, methodState: (await method.exportState?.()) ?? [], facts: {} });
      rounds.push(record);
      const acc = record.accuracy === undefined ? '' : `  acc ${(100 * record.accuracy).toFixed(2)}%`;
      const loss = record.meanTrainLoss === null ? 'no updates' : `loss ${record.meanTrainLoss.toFixed(4)}`;
      log(`round ${round}/${fed.rounds}  lr ${lr.toExponential(2)}  ${loss}${acc}  ${record.wallSeconds.toFixed(1)}s`);
      opts.onRoundTiming?.({ round, wallSeconds: (performance.now() - t0) / 1000, hookSeconds: hookMs / 1000, dispatchSeconds: dispatchMs / 1000, workerBusySeconds: workerBusyMs.map((ms) => ms / 1000), evalSeconds: evalMs / 1000 });
    }
    if (lastRound < fed.rounds) return { dir: dir.path, summary: null, rounds };

    const evaluated = rounds.filter((r) => r.accuracy !== undefined);
    const best = evaluated.reduce<RoundRecord | null>((b, r) => (b === null || (r.accuracy as number) > (b.accuracy as number) ? r : b), null);
    const summary: RunSummary = {
      scenario: scenario.name,
      runId: dir.path.split('/').pop() as string,
      method: method.name,
      backend: backend.name,
      kernels: backend.kernels,
      rounds: fed.rounds,
      finalAccuracy: rounds[rounds.length - 1]?.accuracy ?? null,
      bestAccuracy: best?.accuracy ?? null,
      bestRound: best?.round ?? null,
      wallSeconds: rounds.reduce((s, r) => s + r.wallSeconds, 0),
      bytesUpTotal: rounds.reduce((s, r) => s + r.bytesUp, 0),
      bytesDownTotal: rounds.reduce((s, r) => s + r.bytesDown, 0),
      finalWeightsSha256: weightsHash(global),
      localTraining: { optimizer: 'AdamW', weightDecay: fed.weightDecay, maxGradNorm: fed.maxGradNorm, schedule: fed.schedule },
      methodInfo: setup.info,
      partition: { family: parts.family, alpha: parts.alpha, imbalance: parts.imbalance, seed: parts.seed, classOrder: parts.classOrder },
    };
    dir.writeJson('summary.json', summary);
    log(formatRunTable(rounds, summary));
    log(`results in ${dir.path} (${((performance.now() - runStart) / 1000).toFixed(1)} s this session)`);
    return { dir: dir.path, summary, rounds };
  } finally {
    await closeHost();
    method.dispose();
    unlock();
  }
}
