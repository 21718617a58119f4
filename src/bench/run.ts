import { availableParallelism, platform, arch } from 'node:os';
import type { ClientHosts } from '../run/run-scenario.js';
import { basename } from 'node:path';
import Table from 'cli-table3';
import type { BackendChoice } from '../tensor/backend.js';
import type { KernelChoice } from '../tensor/backend-choices.js';
import { isText, readModelConfig } from '../model/encoder.js';
import { benchEngine, benchEngineStock, type EngineBench } from './bench.js';
import { check, load1, useBenchKernels, type BenchSection, type TargetCheck } from './common.js';
import { initBackend } from '../tensor/backend.js';
import { benchMemory, type MemoryBench } from './memory.js';
import { benchMethods, WIDTH_SCAN_DEFINITION, type MethodsBench } from './methods.js';
import { benchOverhead, type OverheadBench } from './overhead.js';
import { benchPeer, PEER_DEFINITION, type PeerBench } from './peer.js';
import { benchPool, type PoolBench } from './pool.js';

export interface BenchRunOptions {
  /** The FMs measured: engine and methods run for each; pool, overhead and memory (the runtime) for the first. */
  modelDirs: readonly string[];
  /** FMs among modelDirs that are random:<shape> configs: engine only, LoRA step only. */
  loraOnly?: ReadonlySet<string>;
  backend: BackendChoice;
  /** Small sizes: checks the machinery in about a minute; the targets are not meaningful then. */
  quick: boolean;
  sections: readonly BenchSection[];
  /** Engine: also measure the stock wasm kernels in a child process. */
  compare: boolean;
  /** Engine: examples per step for every FM (default: per section sizes, images and texts apart). */
  batch?: number;
  steps?: number;
  /** Overrides every section's repeat count. */
  repeats?: number;
  /** The kernel set every section runs (`fast`: OpenBLAS matrix products on wasm). */
  kernels?: KernelChoice;
  /** Engine: also time a PyTorch twin of each step (`torch`), at one thread. */
  peer?: 'torch';
  /** Where the pool and overhead sections' client actors come from (the entry point's actor hosts). */
  hosts: ClientHosts;
}

/** One FM's engine section: the project's kernels and, on wasm, the stock ones. */
export interface EngineRun {
  project: EngineBench;
  /** The same measurement with the wasm kernel fixes off (child process); null when not run. */
  stock: EngineBench | null;
}

export interface BenchResult {
  quick: boolean;
  models: string[];
  backend: BackendChoice;
  sections: BenchSection[];
  machine: { cpus: number; node: string; platform: string; load1Start: number; load1End: number };
  /** One per FM, in `models` order; empty when the section was not run. */
  engine: EngineRun[];
  /** One per FM, in `models` order; empty when the section was not run. */
  methods: MethodsBench[];
  /** The PyTorch twin of the engine steps; null unless asked for with --peer. */
  peer: PeerBench | null;
  pool: PoolBench | null;
  overhead: OverheadBench | null;
  memory: MemoryBench | null;
  /** Every measured value that has a target, with the comparison made. */
  targets: TargetCheck[];
  /** Seconds per section, and in total. */
  seconds: Partial<Record<BenchSection, number>> & { total: number };
}

/** The targets of the issue, for a 2-core machine on wasm. */
export const TARGETS = {
  stepVsMatMul: 0.6,
  poolRatio: 1.8,
  processesVsThreads: 0.95,
  brokerRatio: 1.7,
  brokerOverheadShare: 0.05,
  overheadShare: 0.03,
  memoryDeltaMB: 50,
  fedpftStepRatio: 0.65,
  stepVsPeer: 1.5,
} as const;

/** Sizes per section: the defaults keep a full `fedpft bench` under 10 minutes on 2 cores. */
function sizes(quick: boolean, repeats: number | undefined) {
  return quick
    ? {
        engine: { batch: 16, textBatch: 2, steps: 2, textSteps: 2, repeats: repeats ?? 1, stockRepeats: 1 },
        methods: { batchSize: 16, examples: 32, textExamples: 32, repeats: repeats ?? 1, clientsPerRound: 10, widthScan: [{ hidden: 32, layers: 3 }], scanBatch: { images: 2, texts: 1, steps: 1, repeats: repeats ?? 1 } },
        pool: { tasks: 4, examplesPerTask: 32, batchSize: 16, repeats: repeats ?? 1, overheadRounds: 2 },
        overhead: { workers: 2, clients: 20, clientsPerRound: 4, rounds: 2, trainLimit: 320, evalLimit: 100 },
        memory: { workers: 2, dataset: 'mnist' as const, trainLimit: 1000, evalLimit: 100, clientCounts: [10, 100, 1000], clientsPerRound: 2, rounds: 1, batchSize: 1, repeats: repeats ?? 1 },
      }
    : {
        // Text FMs: 8 sequences of 128 tokens, about as many token rows as 64 images of 17 patches,
        // and fewer timed steps (a text step takes about 1.5 s, ten times an image step). The
        // stock-kernel comparison is a reference, not a target: one repeat.
        engine: { batch: 64, textBatch: 8, steps: 10, textSteps: 4, repeats: repeats ?? 3, stockRepeats: repeats ?? 1 },
        // Width scan: the shipped width at BERT-base depth, then 256 wide; 12 layers, 10 compressed, as in the paper.
        methods: { batchSize: 16, examples: 160, textExamples: 64, repeats: repeats ?? 7, clientsPerRound: 10, widthScan: [{ hidden: 0, layers: 12 }, { hidden: 256, layers: 12 }], scanBatch: { images: 16, texts: 8, steps: 2, repeats: repeats ?? 3 } },
        pool: { tasks: 40, examplesPerTask: 80, batchSize: 16, repeats: repeats ?? 5, overheadRounds: 8 },
        overhead: { workers: 2, clients: 100, clientsPerRound: 10, rounds: 10, evalLimit: 1000 },
        // mnist's 8,000 training examples cannot give 10,000 clients one each; fashion-mnist has 60,000.
        // Batch = examples per client at 10,000 clients, so every run trains on the same batch shape.
        memory: { workers: 2, dataset: 'fashion-mnist' as const, trainLimit: 20000, evalLimit: 200, clientCounts: [100, 1000, 10000], clientsPerRound: 10, rounds: 1, batchSize: 2, repeats: repeats ?? 3 },
      };
}

/** Runs the chosen sections in a fixed order; `onSection` sees the partial result after each. */
export async function runBench(opts: BenchRunOptions, onSection: (section: BenchSection, partial: BenchResult) => void = () => {}): Promise<BenchResult> {
  const t0 = performance.now();
  const s = sizes(opts.quick, opts.repeats);
  const result: BenchResult = {
    quick: opts.quick,
    models: [...opts.modelDirs],
    backend: opts.backend,
    sections: [...opts.sections],
    machine: { cpus: availableParallelism(), node: process.version, platform: `${platform()} ${arch()}`, load1Start: load1(), load1End: 0 },
    engine: [],
    methods: [],
    peer: null,
    pool: null,
    overhead: null,
    memory: null,
    targets: [],
    seconds: { total: 0 },
  };
  const [first] = opts.modelDirs;
  if (first === undefined) throw new Error('bench: no FM to measure');
  // One kernel set for every section: this thread's, and the generated scenarios' actors'.
  const kernels = opts.kernels ?? 'auto';
  useBenchKernels(kernels);
  await initBackend(opts.backend, kernels);
  const base = { modelDir: first, backend: opts.backend };
  for (const section of opts.sections) {
    const ts = performance.now();
    if (section === 'engine') {
      for (const dir of opts.modelDirs) {
        const text = isText(readModelConfig(dir));
        const batch = opts.batch ?? (text ? s.engine.textBatch : s.engine.batch);
        const steps = opts.steps ?? (text ? s.engine.textSteps : s.engine.steps);
        const project = await benchEngine(dir, opts.backend, batch, steps, s.engine.repeats, kernels, !opts.loraOnly?.has(dir));
        const stock = opts.compare && project.backend.startsWith('wasm') ? benchEngineStock(dir, batch, steps, s.engine.stockRepeats) : null;
        result.engine.push({ project, stock });
      }
      if (opts.peer) result.peer = benchPeer(result.engine.map(({ project: e }) => ({ model: e.model, batch: e.batch, steps: e.steps, textLength: e.textLength })), s.engine.repeats);
    } else if (section === 'methods') {
      for (const dir of opts.modelDirs) {
        const { textExamples, ...sizes } = s.methods;
        const examples = isText(readModelConfig(dir)) ? textExamples : sizes.examples;
        // hidden 0: the FM's own width.
        const cfg = readModelConfig(dir);
        const widthScan = sizes.widthScan.map((w) => ({ hidden: w.hidden || cfg.hiddenSize, layers: w.layers }));
        result.methods.push(await benchMethods({ ...sizes, widthScan, examples, modelDir: dir, backend: opts.backend }));
      }
    } else if (section === 'pool') {
      result.pool = await benchPool({ ...base, ...s.pool, hosts: opts.hosts });
    } else if (section === 'overhead') {
      result.overhead = await benchOverhead({ ...base, ...s.overhead, hosts: opts.hosts });
    } else {
      result.memory = await benchMemory({ ...base, ...s.memory });
    }
    result.seconds[section] = (performance.now() - ts) / 1000;
    result.targets = targetChecks(result);
    onSection(section, result);
  }
  result.machine.load1End = load1();
  result.seconds.total = (performance.now() - t0) / 1000;
  return result;
}

export function targetChecks(r: BenchResult): TargetCheck[] {
  const out: TargetCheck[] = [];
  for (const { project: e } of r.engine) {
    if (e.fullStep) out.push(check('engine.fullStepVsMatMul', 'full train step GFLOP/s / plain matMul GFLOP/s', e.fullStep.vsMatMul, '>=', TARGETS.stepVsMatMul, e.model));
    out.push(check('engine.loraStepVsMatMul', 'LoRA train step GFLOP/s / plain matMul GFLOP/s', e.loraStep.vsMatMul, '>=', TARGETS.stepVsMatMul, e.model));
  }
  if (r.peer?.available) {
    for (const p of r.peer.runs) {
      const e = r.engine.find((x) => x.project.model === p.model)?.project;
      if (!e) continue;
      if (e.fullStep) out.push(check('engine.fullStepVsPeer', "full train step ms / PyTorch twin's (1 thread)", e.fullStep.msPerStep / p.full.msPerStep, '<=', TARGETS.stepVsPeer, e.model));
      out.push(check('engine.loraStepVsPeer', "LoRA train step ms / PyTorch twin's (1 thread)", e.loraStep.msPerStep / p.lora.msPerStep, '<=', TARGETS.stepVsPeer, e.model));
    }
  }
  for (const m of r.methods) {
    const fedpft = m.rows.find((x) => x.method === 'fedpft');
    if (fedpft) out.push(check('methods.fedpftStepRatio', "FedPFT client step / FedPETuning's (d'_ff = d)", fedpft.stepRatio, '<=', TARGETS.fedpftStepRatio, m.model));
  }
  if (r.pool) {
    out.push(check('pool.ratio', 'updates/s with 2 workers / with 1', r.pool.ratio, '>=', TARGETS.poolRatio));
    const processes = r.pool.hosts.find((h) => h.host === 'processes');
    if (processes) out.push(check('pool.processesVsThreads', 'updates/s with 2 processes / with 2 threads', processes.two.updatesPerSecond / r.pool.two.updatesPerSecond, '>=', TARGETS.processesVsThreads));
    const broker = r.pool.hosts.find((h) => h.host === 'broker');
    if (broker) out.push(check('pool.brokerRatio', 'updates/s with 2 broker workers / with 1', broker.ratio, '>=', TARGETS.brokerRatio));
    if (r.pool.brokerOverhead) out.push(check('pool.brokerOverheadShare', "broker's share of round wall time at 10 clients/round", r.pool.brokerOverhead.share, '<=', TARGETS.brokerOverheadShare));
  }
  if (r.overhead) out.push(check('overhead.outsideShare', 'round wall share outside client training and evaluation', r.overhead.outsideShare, '<=', TARGETS.overheadShare));
  if (r.memory) {
    const [first, last] = [r.memory.points[0], r.memory.points[r.memory.points.length - 1]];
    const label = `${last?.clients ?? '?'} vs ${first?.clients ?? '?'} clients`;
    out.push(check('memory.peakDeltaMB', `peak RSS, ${label} (MB)`, r.memory.peakDeltaMB, '<=', TARGETS.memoryDeltaMB));
    out.push(check('memory.liveDeltaMB', `server live heap at round 1, ${label} (MB)`, r.memory.liveDeltaMB, '<=', TARGETS.memoryDeltaMB));
  }
  return out;
}

const f = (x: number, digits = 2) => (Number.isFinite(x) ? x.toFixed(digits) : String(x));
const pct = (x: number) => `${(100 * x).toFixed(2)}%`;

function verdict(r: BenchResult, id: string, model?: string): [string, string] {
  const t = r.targets.find((x) => x.id === id && x.model === model);
  if (!t) return ['-', '-'];
  const threshold = id.startsWith('overhead.') ? pct(t.threshold) : f(t.threshold);
  return [`${t.op} ${threshold}`, t.pass ? 'PASS' : 'FAIL'];
}

function table(head: string[]): Table.Table {
  return new Table({ head, style: { head: [], border: [] } });
}

function loadNote(before: number, after: number): string {
  // The load average trails by a minute and counts this bench's own threads: a hint, not a verdict.
  return `load average (1 min, this bench's own threads included) ${f(before)} before, ${f(after)} after`;
}

/** One section's table (with target and PASS/FAIL beside each measured value), or the summary. */
export function formatBench(r: BenchResult, section: BenchSection | 'summary'): string {
  const quick = r.quick ? ' [--quick: sizes too small for the targets]' : '';
  if (section === 'engine' && r.engine.length > 0) {
    const cell = (x: EngineBench | null, g: (x: EngineBench) => string) => (x ? g(x) : '-');
    const tables = r.engine.map(({ project: e, stock: st }) => {
      const t = table(['measure', 'project kernels', 'stock kernels', 'target', 'result']);
      t.push(['plain 2-D matMul GFLOP/s', f(e.matMulGflops), cell(st, (x) => f(x.matMulGflops)), '-', '-']);
      const full = e.fullStep;
      if (full) {
        t.push(['full train step GFLOP/s (ms/step)', `${f(full.gflops)} (${f(full.msPerStep, 0)})`, cell(st, (x) => (x.fullStep ? `${f(x.fullStep.gflops)} (${f(x.fullStep.msPerStep, 0)})` : '-')), '-', '-']);
        t.push(['full step / matMul', f(full.vsMatMul), cell(st, (x) => (x.fullStep ? f(x.fullStep.vsMatMul) : '-')), ...verdict(r, 'engine.fullStepVsMatMul', e.model)]);
      } else {
        t.push(['full train step', 'not timed (random FM: LoRA step only)', '-', '-', '-']);
      }
      t.push(['LoRA train step GFLOP/s (ms/step)', `${f(e.loraStep.gflops)} (${f(e.loraStep.msPerStep, 0)})`, cell(st, (x) => `${f(x.loraStep.gflops)} (${f(x.loraStep.msPerStep, 0)})`), '-', '-']);
      t.push(['LoRA step / matMul', f(e.loraStep.vsMatMul), cell(st, (x) => f(x.loraStep.vsMatMul)), ...verdict(r, 'engine.loraStepVsMatMul', e.model)]);
      return [`engine — backend ${e.backend}, ${e.model}, batch ${e.batch}, ${e.steps} timed steps, best of ${e.repeats} (median in the JSON)${quick}`, t.toString()].join('\n');
    });
    const peer = r.peer;
    const peerLines: string[] = [];
    if (peer && !peer.available) peerLines.push(`  peer torch: not measured: ${peer.reason}`);
    if (peer?.available) {
      const t = table(['FM', 'step', 'this project ms', 'PyTorch twin ms', 'ratio', 'target', 'result']);
      for (const p of peer.runs) {
        const e = r.engine.find((x) => x.project.model === p.model)?.project;
        if (!e) continue;
        if (e.fullStep) t.push([p.model, 'full', f(e.fullStep.msPerStep, 1), f(p.full.msPerStep, 1), f(e.fullStep.msPerStep / p.full.msPerStep, 2), ...verdict(r, 'engine.fullStepVsPeer', e.model)]);
        t.push([p.model, 'LoRA', f(e.loraStep.msPerStep, 1), f(p.lora.msPerStep, 1), f(e.loraStep.msPerStep / p.lora.msPerStep, 2), ...verdict(r, 'engine.loraStepVsPeer', e.model)]);
      }
      peerLines.push(`peer — PyTorch ${peer.runs[0]?.torch ?? '?'} (${peer.runs[0]?.python ?? '?'}), 1 thread, the engine's shapes`, t.toString(), `  ${PEER_DEFINITION}`);
    }
    return [
      ...tables,
      '  FLOPs from shapes: full step = 3 x 2 x forward MACs, LoRA step = 2 x 2 x forward MACs; text FMs on 128-token inputs; matMul = the FFN\'s first product [batch*tokens, d] x [d, d_ff]; stock = wasm kernel fixes off (child process)',
      ...peerLines,
    ].join('\n');
  }
  if (section === 'methods' && r.methods.length > 0) {
    const tables = r.methods.map((m) => {
      const t = table(['method', 'client model', 'trainable', 'fwd MACs/ex (ratio)', 'ms/step', 'step ratio', 'target', 'result', 'bytes/round']);
      for (const row of m.rows) {
        const [target, res] = row.method === 'fedpft' ? verdict(r, 'methods.fedpftStepRatio', m.model) : ['-', '-'];
        const bytes = row.bytes.alignmentPerRound > 0 ? `${row.bytes.perRound.toFixed(0)} (${row.bytes.exchangePerRound} + ${row.bytes.alignmentPerRound.toFixed(0)} align)` : String(row.bytes.perRound);
        t.push([row.method, row.clientModel, row.trainableParams, `${(row.clientForwardMacsPerExample / 1e6).toFixed(2)}M (${f(row.macsRatio, 3)})`, f(row.msPerStep, 1), f(row.stepRatio, 3), target, res, bytes]);
      }
      const scan = table(['FM variant (random weights)', 'full FM ms/step', 'FedPFT layout ms/step', 'step ratio', 'MACs ratio']);
      for (const w of m.widthScan) scan.push([`d = ${w.hidden}, ${w.layers} layers`, f(w.fullMs, 1), f(w.fedpftMs, 1), f(w.stepRatio, 3), f(w.macsRatio, 3)]);
      return [
        `methods — backend ${m.backend}, ${m.model} on ${m.dataset}, batch ${m.batchSize}, ${m.stepsPerCall} steps per timed call, median of ${m.repeats}, K = ${m.clientsPerRound} clients/round${quick}`,
        t.toString(),
        `  the MACs ratio is the compute floor of the step ratio; ${loadNote(m.loadBefore, m.loadAfter)}`,
        ...(m.widthScan.length > 0 ? [`  width scan, batch ${m.scanBatch}:`, scan.toString()] : []),
      ].join('\n');
    });
    return [...tables, `  ${r.methods[0]?.definition ?? ''}`, `  ${WIDTH_SCAN_DEFINITION}`].join('\n');
  }
  if (section === 'pool' && r.pool) {
    const p = r.pool;
    const t = table(['measure', 'value', 'target', 'result']);
    const ratioTarget: Record<string, string> = { threads: 'pool.ratio', broker: 'pool.brokerRatio' };
    for (const h of p.hosts) {
      t.push([`${h.host}: client updates/s, 1 / 2 actors`, `${f(h.one.updatesPerSecond, 3)} / ${f(h.two.updatesPerSecond, 3)}`, '-', '-']);
      const target = ratioTarget[h.host];
      t.push([`${h.host}: 2 actors / 1 actor`, f(h.ratio, 3), ...(target ? verdict(r, target) : ['-', '-'])]);
      t.push([`${h.host}: local training ms per update (1 / 2 actors)`, `${f(h.one.msPerUpdate, 0)} / ${f(h.two.msPerUpdate, 0)}`, '-', '-']);
      if (h.host === 'processes') t.push(['processes / threads, 2 actors', f(h.two.updatesPerSecond / p.two.updatesPerSecond, 3), ...verdict(r, 'pool.processesVsThreads')]);
    }
    t.push(['CPU cores this process used (threads, 1 / 2 workers)', `${f(p.one.coresUsed ?? NaN)} / ${f(p.two.coresUsed ?? NaN)}`, '-', '-']);
    const o = p.brokerOverhead;
    if (o) {
      t.push([`round wall time, ${o.clientsPerRound} clients/round: 2 threads / 2 broker workers`, `${f(o.threadsRoundSeconds, 3)} / ${f(o.brokerRoundSeconds, 3)} s`, '-', '-']);
      t.push(["broker's share of round wall time", pct(o.share), ...verdict(r, 'pool.brokerOverheadShare')]);
    }
    return [
      `pool — backend ${p.backend}, ${p.tasks} updates of ${p.examplesPerTask} examples (${p.stepsPerTask} steps of ${p.batchSize}), median of ${p.repeats}${quick}`,
      t.toString(),
      `  ${p.definition}`,
      ...p.skipped.map((line) => `  ${line}`),
      `  processes and broker workers are child processes of this machine (broker: a redis-server of the bench's own on loopback); the broker's share runs the quickstart's federation for ${o?.rounds ?? '-'} rounds on each host: 1 - threads' median round time / the broker's`,
      '  CPU cores used = process CPU time / wall: about 1 and 2 when the workers had the cores to themselves; the part above the worker count is the main thread and V8\'s GC helper threads, which compete with 2 workers on 2 cores',
      `  ${loadNote(p.loadBefore, p.loadAfter)}`,
    ].join('\n');
  }
  if (section === 'overhead' && r.overhead) {
    const o = r.overhead;
    const t = table(['measure', 'value', 'target', 'result']);
    t.push(['round wall time (median)', `${f(o.roundSeconds, 3)} s`, '-', '-']);
    t.push(['outside training and evaluation (median share)', pct(o.outsideShare), ...verdict(r, 'overhead.outsideShare')]);
    t.push(['outside training and evaluation (all rounds)', pct(o.outsideShareTotal), '-', '-']);
    t.push(['dispatch overhead (median share)', pct(o.dispatchOverheadShare), '-', '-']);
    const s = o.scenario;
    return [
      `overhead — ${s.method} on ${s.dataset}, ${s.clients} clients (${s.partition}), ${s.clientsPerRound}/round, ${s.rounds} rounds, ${s.workers} workers${quick}`,
      t.toString(),
      `  per round (s): ${o.rounds.map((x) => `#${x.round} wall ${f(x.wallSeconds, 3)} dispatch ${f(x.dispatchSeconds, 3)} eval ${f(x.evalSeconds, 3)} outside ${f(x.outsideSeconds, 3)}`).join('; ')}`,
      `  ${o.definition}`,
      `  ${loadNote(o.loadBefore, o.loadAfter)}`,
    ].join('\n');
  }
  if (section === 'memory' && r.memory) {
    const m = r.memory;
    const t = table(['measure', 'value', 'target', 'result']);
    for (const p of m.points) t.push([`${p.clients} clients (>= ${p.examplesPerClient} examples each): peak RSS / round-end RSS / live heap`, `${f(p.peakRssMB, 1)} / ${f(p.roundRssMB, 1)} / ${f(p.startLiveMB, 1)} MB`, '-', '-']);
    t.push(['peak RSS: largest - smallest client count', `${f(m.peakDeltaMB, 1)} MB`, ...verdict(r, 'memory.peakDeltaMB')]);
    t.push(['round-end RSS: largest - smallest', `${f(m.roundDeltaMB, 1)} MB`, '-', '-']);
    t.push(['server live heap at round 1: largest - smallest', `${f(m.liveDeltaMB, 2)} MB`, ...verdict(r, 'memory.liveDeltaMB')]);
    return [
      `memory — ${m.dataset} (first ${m.trainLimit} training examples), ${m.clientsPerRound} clients/round, ${m.rounds} rounds, batch ${m.batchSize}, ${m.workers} workers, median of ${m.points[0]?.peakSamples.length ?? 0}${quick}`,
      t.toString(),
      `  ${m.definition}`,
      `  ${loadNote(m.loadBefore, m.loadAfter)}`,
    ].join('\n');
  }
  if (section === 'summary') {
    const t = table(['target', 'value', 'target', 'result']);
    for (const c of r.targets) {
      const show = c.id.startsWith('overhead.') ? pct : (x: number) => f(x, 3);
      t.push([c.model ? `${c.description} [${basename(c.model)}]` : c.description, show(c.value), `${c.op} ${show(c.threshold)}`, c.pass ? 'PASS' : 'FAIL']);
    }
    const per = r.sections.map((s) => `${s} ${f(r.seconds[s] ?? 0, 0)} s`).join(', ');
    return [`targets${quick}`, t.toString(), `bench took ${f(r.seconds.total, 0)} s (${per}); ${r.machine.cpus} CPUs, node ${r.machine.node}, ${r.machine.platform}`].join('\n');
  }
  return '';
}
