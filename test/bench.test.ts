import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import type { BenchResult } from '../src/bench/run.js';
import { CLI, cli, tempDir } from './helpers/tiny-run.js';

/**
 * `fedpft bench --quick` through the built CLI (run `npx tsc -p tsconfig.json` first): every
 * section is present with positive finite numbers, and every derived number is the arithmetic
 * of the reported ones. No time and no target is asserted: the machine may be busy.
 */

const REL = 1e-9;

function positive(x: unknown, what: string): void {
  expect(typeof x, what).toBe('number');
  expect(Number.isFinite(x as number), what).toBe(true);
  expect(x as number, what).toBeGreaterThan(0);
}

function ratioOf(actual: number, num: number, den: number): void {
  expect(Math.abs(actual - num / den)).toBeLessThanOrEqual(REL * Math.abs(num / den));
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? (s[mid] as number) : ((s[mid - 1] as number) + (s[mid] as number)) / 2;
}

describe('fedpft bench --quick', () => {
  let r: BenchResult;
  let stdout: string;

  beforeAll(async () => {
    if (!existsSync(CLI)) throw new Error(`${CLI} is missing: build first (npx tsc -p tsconfig.json)`);
    const file = join(tempDir('bench'), 'bench.json');
    const out = await cli(['bench', '--quick', '--json', file]);
    if (out.code !== 0) throw new Error(`fedpft bench --quick failed (${out.code}): ${out.stderr}`);
    stdout = out.stdout;
    r = JSON.parse(readFileSync(file, 'utf8')) as BenchResult;
  }, 600_000);

  it('prints one table per section with targets and PASS/FAIL, and a summary', () => {
    for (const title of ['engine —', 'methods —', 'pool —', 'overhead —', 'memory —', 'targets', 'bench took']) expect(stdout).toContain(title);
    expect(stdout).toMatch(/PASS|FAIL/);
    expect(r.quick).toBe(true);
    expect(r.sections).toEqual(['engine', 'methods', 'pool', 'overhead', 'memory']);
    positive(r.seconds.total, 'seconds.total');
  });

  it('engine: GFLOP/s and ratios to the plain matMul, for the vision and the text FM', () => {
    expect(r.models).toEqual(['models/vit-fmnist', 'models/bert-text']);
    expect(r.engine.map((x) => x.project.model)).toEqual(r.models);
    // --quick: 16 images, or 2 texts of 128 tokens.
    expect(r.engine.map((x) => x.project.batch)).toEqual([16, 2]);
    for (const { project: e, stock } of r.engine) {
      positive(e.matMulGflops, 'matMulGflops');
      // Ratios use the best repeat of each side: a busy machine only slows samples down.
      expect(e.matMulGflops).toBe(Math.max(...e.matMulSamples));
      expect(e.matMulMedianGflops).toBe(median(e.matMulSamples));
      // The shipped FMs have weights: their full step is timed.
      expect(e.fullStep).not.toBeNull();
      for (const step of [e.fullStep, e.loraStep]) {
        if (!step) continue;
        expect(step.gflops).toBe(Math.max(...step.samples));
        expect(step.medianGflops).toBe(median(step.samples));
        positive(step.gflops, 'gflops');
        positive(step.msPerStep, 'msPerStep');
        ratioOf(step.vsMatMul, step.gflops, e.matMulGflops);
      }
      // The default kernel set is auto: fast here, where .ci/run installs OpenBLAS.
      expect(e.backend).toMatch(/^wasm \(fast kernels: OpenBLAS [\d.]+, Haswell core\)$/);
      expect(stock?.backend).toBe('wasm (stock kernels)');
      expect(stock?.model).toBe(e.model);
      positive(stock?.fullStep?.gflops, 'stock gflops');
    }
  });

  it('methods: step ratios and bytes per round are quotients and sums of the reported values', () => {
    expect(r.methods.map((m) => [m.model, m.dataset])).toEqual([
      ['models/vit-fmnist', 'mnist'],
      ['models/bert-text', 'spam (64 tokens)'],
    ]);
    // LoRA on q, k, v, output of 6 layers (2 x d x r each), r = 8, plus the head: ViT d = 64 with a
    // 10-class classifier; BERT d = 128 with the pooler (d x d + d) and a 2-class classifier.
    const trainable = [6 * 4 * 2 * 64 * 8 + 64 * 10 + 10, 6 * 4 * 2 * 128 * 8 + 128 * 128 + 128 + 128 * 2 + 2];
    // d'_ff = d in the compressed layers: the first and last layer kept whole, or none.
    const widths = [
      [[256, 64, 64, 64, 64, 256], Array(6).fill(64)],
      [[512, 128, 128, 128, 128, 512], Array(6).fill(128)],
    ];
    r.methods.forEach((m, i) => {
      expect(m.rows.map((x) => x.method)).toEqual(['fedpetuning', 'fedot', 'fedpft', 'fedpft-all-layers']);
      const base = m.rows[0];
      if (!base) throw new Error('no FedPETuning row');
      expect(base.trainableParams).toBe(trainable[i]);
      for (const row of m.rows) {
        positive(row.msPerStep, `${row.method} msPerStep`);
        positive(row.trainableParams, `${row.method} trainable`);
        expect(row.msPerStep).toBe(median(row.samples));
        ratioOf(row.stepRatio, row.msPerStep, base.msPerStep);
        ratioOf(row.macsRatio, row.clientForwardMacsPerExample, base.clientForwardMacsPerExample);
        expect(row.bytes.exchangePerClient).toBe(2 * 4 * row.trainableParams);
        expect(row.bytes.exchangePerRound).toBe(m.clientsPerRound * row.bytes.exchangePerClient);
        expect(row.bytes.perRound).toBe(row.bytes.exchangePerRound + row.bytes.alignmentPerRound);
      }
      expect(m.rows[1]?.bytes.alignmentPerRound).toBe(0);
      expect(m.rows[2]?.bytes.alignmentPerRound).toBeGreaterThan(0);
      expect([m.rows[2]?.clientFfnWidths, m.rows[3]?.clientFfnWidths]).toEqual(widths[i]);
      // Compressing every layer costs fewer MACs than keeping the first and last whole.
      expect(m.rows[3]?.macsRatio).toBeLessThan(m.rows[2]?.macsRatio as number);
      // The width scan (quick: one 32-wide, 3-layer variant, only the middle layer compressed).
      expect(m.widthScan.map((w) => [w.hidden, w.layers])).toEqual([[32, 3]]);
      expect(m.scanBatch).toBe(i === 0 ? 2 : 1);
      for (const w of m.widthScan) {
        positive(w.fullMs, 'scan fullMs');
        positive(w.fedpftMs, 'scan fedpftMs');
        ratioOf(w.stepRatio, w.fedpftMs, w.fullMs);
        expect(w.macsRatio).toBeGreaterThan(0.5);
        expect(w.macsRatio).toBeLessThan(1);
      }
    });
  });

  it('pool: updates/s with 1 and 2 actors and their ratio, on threads, processes and broker workers', () => {
    const p = r.pool;
    if (!p) throw new Error('no pool section');
    // redis-server is installed wherever the tests run (.ci/run installs it): the broker is measured.
    expect(p.skipped).toEqual([]);
    expect(p.hosts.map((h) => h.host)).toEqual(['threads', 'processes', 'broker']);
    expect([p.one, p.two]).toEqual([p.hosts[0]?.one, p.hosts[0]?.two]);
    for (const h of p.hosts) {
      for (const run of [h.one, h.two]) {
        positive(run.updatesPerSecond, 'updatesPerSecond');
        positive(run.msPerUpdate, 'msPerUpdate');
        expect(run.updatesPerSecond).toBe(median(run.samples));
        if (h.host === 'threads') positive(run.coresUsed, 'coresUsed');
        else expect(run.coresUsed).toBeNull();
      }
      expect([h.one.workers, h.two.workers]).toEqual([1, 2]);
      ratioOf(h.ratio, h.two.updatesPerSecond, h.one.updatesPerSecond);
    }
    ratioOf(p.ratio, p.two.updatesPerSecond, p.one.updatesPerSecond);
    const o = p.brokerOverhead;
    if (!o) throw new Error('no broker overhead');
    positive(o.threadsRoundSeconds, 'threadsRoundSeconds');
    positive(o.brokerRoundSeconds, 'brokerRoundSeconds');
    expect(Math.abs(o.share - (1 - o.threadsRoundSeconds / o.brokerRoundSeconds))).toBeLessThanOrEqual(REL);
    expect(o.clientsPerRound).toBe(10);
  });

  it('overhead: per-round shares follow from the round timings', () => {
    const o = r.overhead;
    if (!o) throw new Error('no overhead section');
    expect(o.rounds.map((x) => x.round)).toEqual(Array.from({ length: o.scenario.rounds }, (_, i) => i + 1));
    for (const x of o.rounds) {
      positive(x.wallSeconds, 'wallSeconds');
      positive(x.dispatchSeconds, 'dispatchSeconds');
      expect(x.workerBusySeconds).toHaveLength(o.scenario.workers);
      expect(Math.abs(x.outsideSeconds - (x.wallSeconds - x.dispatchSeconds - x.evalSeconds))).toBeLessThan(1e-12);
      ratioOf(x.outsideShare, x.outsideSeconds, x.wallSeconds);
      expect(Math.abs(x.dispatchOverheadSeconds - (x.dispatchSeconds - Math.max(...x.workerBusySeconds)))).toBeLessThan(1e-12);
      ratioOf(x.dispatchOverheadShare, x.dispatchOverheadSeconds, x.wallSeconds);
    }
    // Evaluation happens in the last round only.
    expect(o.rounds.slice(0, -1).every((x) => x.evalSeconds === 0)).toBe(true);
    positive(o.rounds[o.rounds.length - 1]?.evalSeconds, 'last round evalSeconds');
    expect(o.outsideShare).toBe(median(o.rounds.map((x) => x.outsideShare)));
    expect(o.dispatchOverheadShare).toBe(median(o.rounds.map((x) => x.dispatchOverheadShare)));
    ratioOf(o.outsideShareTotal, o.rounds.reduce((s, x) => s + x.outsideSeconds, 0), o.rounds.reduce((s, x) => s + x.wallSeconds, 0));
  });

  it('memory: peak RSS per client count and the difference', () => {
    const m = r.memory;
    if (!m) throw new Error('no memory section');
    expect(m.points.map((p) => p.clients)).toEqual([10, 100, 1000]);
    for (const p of m.points) {
      positive(p.peakRssMB, 'peakRssMB');
      positive(p.roundRssMB, 'roundRssMB');
      positive(p.startLiveMB, 'startLiveMB');
      expect(p.startLiveMB).toBe(median(p.startLiveSamples));
      expect(p.peakRssMB).toBe(median(p.peakSamples));
      expect(p.examplesPerClient).toBeGreaterThanOrEqual(m.batchSize);
    }
    const [first, last] = [m.points[0], m.points[m.points.length - 1]];
    expect(m.peakDeltaMB).toBe((last?.peakRssMB as number) - (first?.peakRssMB as number));
    expect(m.roundDeltaMB).toBe((last?.roundRssMB as number) - (first?.roundRssMB as number));
    expect(m.liveDeltaMB).toBe((last?.startLiveMB as number) - (first?.startLiveMB as number));
  });

  it('targets: one per measured target (engine and methods per FM), each PASS/FAIL the comparison of the reported value', () => {
    const key = (t: { id: string; model?: string }) => (t.model ? `${t.id}@${t.model}` : t.id);
    const byId = new Map(r.targets.map((t) => [key(t), t]));
    const perFm = ['engine.fullStepVsMatMul', 'engine.loraStepVsMatMul', 'methods.fedpftStepRatio'].flatMap((id) => r.models.map((m) => `${id}@${m}`));
    expect([...byId.keys()].sort()).toEqual([...perFm, 'memory.liveDeltaMB', 'memory.peakDeltaMB', 'overhead.outsideShare', 'pool.ratio', 'pool.processesVsThreads', 'pool.brokerRatio', 'pool.brokerOverheadShare'].sort());
    for (const t of r.targets) expect(t.pass).toBe(t.op === '>=' ? t.value >= t.threshold : t.value <= t.threshold);
    r.engine.forEach(({ project: e }) => expect(byId.get(`engine.fullStepVsMatMul@${e.model}`)?.value).toBe(e.fullStep?.vsMatMul));
    r.methods.forEach((m) => expect(byId.get(`methods.fedpftStepRatio@${m.model}`)?.value).toBe(m.rows[2]?.stepRatio));
    expect(byId.get('pool.ratio')?.value).toBe(r.pool?.ratio);
    expect(byId.get('overhead.outsideShare')?.value).toBe(r.overhead?.outsideShare);
    expect(byId.get('memory.peakDeltaMB')?.value).toBe(r.memory?.peakDeltaMB);
  });

  it('rejects an unknown section with a one-line usage error', async () => {
    const out = await cli(['bench', '--sections', 'engine,nope']);
    expect(out.code).toBe(2);
    expect(out.stderr).toContain('--sections');
  });
});
