/**
 * A run from its scenario: the server's FM, data, partition and method set up; the run
 * directory created or resumed; the rounds run on a client host; the summary written. Every
 * check of the user's input happens before the run directory is created.
 */
import { join } from 'node:path';
import { applyPatch, patchBytes, type FrozenPatch } from '../client/frozen-patch.js';
import type { LabelledExamples, TaskData } from '../data/dataset.js';
import { isTextTask } from '../data/names.js';
import { partition } from '../data/partition.js';
import { PatchLedger } from '../fl/patch-ledger.js';
import { methodRef, resolveMethod } from '../methods/user-module.js';
import { initModelParams, inputMismatch, isText, loadModel } from '../model/encoder.js';
import { formatRunTable, type RunSummary } from '../report/summary-table.js';
import { describeEnvironment } from '../results/environment.js';
import { sameExperiment, scenarioInputs } from '../results/scenario-inputs.js';
import { RunDir, weightsHash, type RoundRecord } from '../results/run-dir.js';
import type { Scenario } from '../scenario/schema.js';
import { loadScenarioTask } from '../scenario/task-data.js';
import { backendLabel, initBackend, type BackendInfo } from '../tensor/backend.js';
import type { KernelSet } from '../tensor/backend-choices.js';
import { lockDir } from '../util/dir-lock.js';
import { UserError } from '../util/errors.js';
import { Rng } from '../util/rng.js';
import type { ClientHost } from './client-host.js';
import { RoundRecorder, type RoundObserver } from './recorder.js';
import { runRounds } from './round-loop.js';

/** Where client actors come from: the actor hosts (actors/open-host.ts), given by the entry point. */
export interface ClientHosts {
  /** Opens the client actors for a scenario's training set (loaded by the host unless given) on its runtime.actors host. */
  open(scenario: Scenario, train?: LabelledExamples): Promise<ClientHost>;
  /** What a host depends on: runs whose keys are equal may share one. */
  key(scenario: Scenario): string;
}

export interface RunOptions {
  scenario: Scenario;
  resultsRoot: string;
  /** Continue the named run, or the newest unfinished one when true. */
  resume?: string | true;
  runId?: string;
  log?: (line: string) => void;
  hosts: ClientHosts;
  /**
   * An open client host to run on, left open afterwards, so the runs of a grid share one set of
   * actors; its key must be this scenario's. Default: a host of the run's own, closed at the end.
   */
  host?: ClientHost;
  /** Told of every recorded round; one may stop the run there (recorder.ts). */
  observers?: readonly RoundObserver[];
}

export interface RunOutcome {
  dir: string;
  /** null when an observer stopped the run before its last round. */
  summary: RunSummary | null;
  rounds: RoundRecord[];
}

function defaultRunId(): string {
  return new Date().toISOString().replace(/[-:]/g, '').replace(/\..*/, '');
}

/**
 * A resumed run keeps the kernel set it recorded: under `auto` the scenario takes it, so a run
 * started where OpenBLAS was missing continues exact after it is installed, and the reverse is
 * refused naming the run. An explicit set that differs is refused by the resume check.
 */
function withRecordedKernels(opts: RunOptions): { scenario: Scenario; recordedIn?: string } {
  const { scenario } = opts;
  if (!opts.resume || scenario.runtime.kernels !== 'auto') return { scenario };
  let dir: RunDir;
  let saved: { runtime?: { kernels?: KernelSet } };
  try {
    dir = RunDir.open(opts.resultsRoot, scenario.name, opts.resume === true ? undefined : opts.resume);
    saved = dir.readJson('scenario.json');
  } catch {
    // The resume below reports a missing or unreadable run in its own words.
    return { scenario };
  }
  return { scenario: { ...scenario, runtime: { ...scenario.runtime, kernels: saved.runtime?.kernels ?? 'exact' } }, recordedIn: dir.path };
}

async function initRunBackend(scenario: Scenario, recordedIn: string | undefined): Promise<BackendInfo> {
  try {
    return await initBackend(scenario.runtime.backend, scenario.runtime.kernels);
  } catch (err) {
    if (recordedIn && err instanceof UserError) throw new UserError(recordedIn, 'scenario.json', `this run ran the ${scenario.runtime.kernels} kernel set, which cannot load here (${err.message})`);
    throw err;
  }
}

export async function runScenario(opts: RunOptions): Promise<RunOutcome> {
  const { scenario, recordedIn } = withRecordedKernels(opts);
  const log = opts.log ?? ((line: string) => console.log(line));
  const fed = scenario.federation;
  const backend = await initRunBackend(scenario, recordedIn);
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
  const definition = await resolveMethod(scenario.method);
  const method = definition.server(scenario.method);
  const setup = await method.setup({ scenario, fm, data, log, text });
  for (const t of fm.params.values()) t.dispose();

  if (opts.host && opts.host.key !== opts.hosts.key(scenario)) throw new Error(`runScenario: the shared host holds ${opts.host.key}, this run needs ${opts.hosts.key(scenario)}`);
  // Before the run directory: actors that cannot start (a mixed backend, an unreachable broker) leave nothing under results/.
  const host = opts.host ?? (await opts.hosts.open(scenario, train));
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
      // differ, and so may the paths of its files if their contents did not; the kernel set may
      // not. scenario.json holds the set the run resolved to (runs from before kernel sets ran exact).
      const env = dir.readJson<{ inputs?: unknown; blasKernels?: string }>('environment.json');
      if (!sameExperiment(saved, env.inputs, scenario)) throw new UserError(dir.path, 'scenario.json', 'the scenario or a file it names changed since this run started; start a new run instead');
      const ran = saved.runtime.kernels ?? 'exact';
      if (ran !== backend.kernels) throw new UserError(dir.path, 'scenario.json', `this run ran the ${ran} kernel set and this process runs ${backend.kernels}; resume it with --kernels ${ran}`);
      if (env.blasKernels !== undefined && env.blasKernels !== backend.blasKernels) throw new UserError(dir.path, 'environment.json', `this run's fast kernels were ${env.blasKernels}, this machine's are ${backend.blasKernels}: other bits`);
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
      dir.writeJson('environment.json', describeEnvironment(backend, scenario.runtime.workers, host.kind, scenarioInputs(scenario)));
      dir.writeJson('partition.json', { family: parts.family, alpha: parts.alpha, imbalance: parts.imbalance, seed: parts.seed, classOrder: parts.classOrder, sizes: parts.clients.map((c) => c.length), mixes: parts.mixes });
      // Last: scenario.json marks a run that can be resumed, so a kill before it leaves none half-started.
      dir.writeJson('scenario.json', { ...scenario, runtime: { ...scenario.runtime, kernels: backend.kernels } });
    }
  } catch (err) {
    unlock();
    await closeHost();
    throw err;
  }
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
    log(`${scenario.name}: ${method.name} on ${scenario.task.dataset}, ${fed.clients} clients (${parts.family}${parts.alpha === null ? '' : ` alpha=${parts.alpha}`}), ${fed.clientsPerRound}/round, ${fed.rounds} rounds, ${host.size} workers, backend ${backendLabel(backend)}`);
    if (backend.fastUnavailable) log(backend.fastUnavailable);
    const recorder = new RoundRecorder(dir, host, fed.rounds, log, opts.observers ?? [], rounds);
    const publish = async (patches: FrozenPatch[]) => {
      if (patches.length === 0) return;
      applyToSpec(patches);
      await host.updateFrozen(patches);
      ledger.publish(patchBytes(patches));
    };
    const clients = parts.clients.map((c) => Int32Array.from(c));
    const loop = { scenario, method, methodRef: methodRef(scenario.method), host, clients, ledger, recorder, publish };
    const ran = await runRounds(loop, startRound, global);
    global = ran.global;
    if (!ran.finished) return { dir: dir.path, summary: null, rounds };

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
      // A method whose client half trains its own way says so rather than claiming plain AdamW.
      localTraining: { optimizer: definition.client?.train ? `${definition.name}'s client.train` : 'AdamW', weightDecay: fed.weightDecay, maxGradNorm: fed.maxGradNorm, schedule: fed.schedule },
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
