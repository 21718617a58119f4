import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { BackendChoice } from '../tensor/backend.js';
import { compiled, FEDPETUNING, load1, median, writeBenchScenario } from './common.js';

const run = promisify(execFile);

export interface MemoryBenchOptions {
  modelDir: string;
  backend: BackendChoice;
  workers: number;
  dataset: 'mnist' | 'fashion-mnist';
  /** The same training set for every client count, so only the number of clients changes. */
  trainLimit: number;
  evalLimit: number;
  /** Ascending; the target compares the last with the first. */
  clientCounts: number[];
  clientsPerRound: number;
  rounds: number;
  /**
   * The same for every client count and at most the examples per client at the largest count:
   * each actor's wasm heap grows to the largest batch it trains, so a smaller batch at more
   * clients would make many clients look cheaper than they are.
   */
  batchSize: number;
  /** Child runs per client count, interleaved (100, 1000, 10000, 100, ...). */
  repeats: number;
}

export interface MemoryPoint {
  clients: number;
  examplesPerClient: number;
  /** Median over repeats of the child's peak RSS in MB (10^6 bytes). */
  peakRssMB: number;
  peakSamples: number[];
  /**
   * Median over repeats of the server thread's live JS heap + ArrayBuffers after a full GC when
   * round 1 starts (MB): the training data and every per-client structure, without garbage.
   */
  startLiveMB: number;
  startLiveSamples: number[];
  /** Median over repeats of the highest RSS sampled at a round's end (MB). */
  roundRssMB: number;
  roundSamples: number[];
}

export interface MemoryBench {
  definition: string;
  dataset: string;
  trainLimit: number;
  clientsPerRound: number;
  rounds: number;
  batchSize: number;
  workers: number;
  points: MemoryPoint[];
  /** peakRssMB of the largest client count minus that of the smallest. */
  peakDeltaMB: number;
  /** startLiveMB of the largest client count minus that of the smallest. */
  liveDeltaMB: number;
  /** roundRssMB of the largest client count minus that of the smallest. */
  roundDeltaMB: number;
  loadBefore: number;
  loadAfter: number;
}

const MIB = 1024 * 1024;
const MB = 1e6;

export const MEMORY_DEFINITION =
  'peak RSS (getrusage maxrss, as /usr/bin/time -f %M; worker threads included) of a child process doing what `fedpft run` does on a generated scenario ' +
  '(FedPETuning, iid partition of the same training prefix, the same clients per round, rounds and batch size; only the number of clients changes); ' +
  'live = the server thread\'s JS heap + ArrayBuffers after a full GC when round 1 starts (data, partition, per-client index arrays; actors hold no per-client state); ' +
  'round-end RSS = the highest RSS at the end of a round. MB = 10^6 bytes, medians over repeats. ' +
  'Caveat: with a fixed training set, fewer clients means more steps per sampled client, so more transient garbage: that biases RSS against the smaller client counts';

/** Peak RSS of whole runs for several client counts, each in a fresh process. */
export async function benchMemory(opts: MemoryBenchOptions): Promise<MemoryBench> {
  const loadBefore = load1();
  const child = compiled('../../actors/bench-memory-child.js');
  const work = mkdtempSync(join(tmpdir(), 'fedpft-bench-memory-'));
  const samples = new Map<number, Array<{ peak: number; live: number; round: number }>>(opts.clientCounts.map((c) => [c, []]));
  try {
    for (let r = 0; r < opts.repeats; r++) {
      for (const clients of opts.clientCounts) {
        const file = writeBenchScenario(work, {
          name: `bench-memory-${clients}`,
          modelDir: opts.modelDir,
          backend: opts.backend,
          workers: opts.workers,
          dataset: opts.dataset,
          trainLimit: opts.trainLimit,
          evalLimit: opts.evalLimit,
          partition: { family: 'iid' },
          clients,
          clientsPerRound: opts.clientsPerRound,
          rounds: opts.rounds,
          evalEvery: opts.rounds,
          batchSize: opts.batchSize,
          method: FEDPETUNING,
        });
        const results = join(work, `results-${clients}-${r}`);
        const { stdout } = await run(process.execPath, ['--expose-gc', child, file, results], { maxBuffer: 16 * MIB });
        rmSync(results, { recursive: true, force: true });
        const last = stdout.trim().split('\n').pop() ?? '';
        const out = JSON.parse(last) as { maxRssBytes: number; startLiveBytes: number; roundRssBytes: number[] };
        samples.get(clients)?.push({ peak: out.maxRssBytes / MB, live: out.startLiveBytes / MB, round: Math.max(...out.roundRssBytes) / MB });
      }
    }
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
  const points = opts.clientCounts.map((clients): MemoryPoint => {
    const xs = samples.get(clients) ?? [];
    return {
      clients,
      examplesPerClient: Math.floor(opts.trainLimit / clients),
      peakRssMB: median(xs.map((x) => x.peak)),
      peakSamples: xs.map((x) => x.peak),
      startLiveMB: median(xs.map((x) => x.live)),
      startLiveSamples: xs.map((x) => x.live),
      roundRssMB: median(xs.map((x) => x.round)),
      roundSamples: xs.map((x) => x.round),
    };
  });
  const first = points[0] as MemoryPoint;
  const last = points[points.length - 1] as MemoryPoint;
  return {
    definition: MEMORY_DEFINITION,
    dataset: opts.dataset,
    trainLimit: opts.trainLimit,
    clientsPerRound: opts.clientsPerRound,
    rounds: opts.rounds,
    batchSize: opts.batchSize,
    workers: opts.workers,
    points,
    peakDeltaMB: last.peakRssMB - first.peakRssMB,
    liveDeltaMB: last.startLiveMB - first.startLiveMB,
    roundDeltaMB: last.roundRssMB - first.roundRssMB,
    loadBefore,
    loadAfter: load1(),
  };
}
