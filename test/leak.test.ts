/**
 * Leaks over a long run: 200 rounds of a tiny scenario in-process (runScenario; the client
 * actor runs from dist/). Live tensor counts on the server and the actors must be flat from
 * round 2 on, and the process's RSS (and JS heap, after a full GC) must not grow between round 40
 * and round 200.
 */
import { join } from 'node:path';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { beforeAll, describe, expect, it } from 'vitest';
import { runScenario } from '../index.js';
import { parseScenario } from '../src/scenario/load.js';
import { tinyVit } from './helpers/kit.js';
import { makeTinyFm, tempDir } from './helpers/tiny-run.js';

const ROUNDS = 200;
const RSS_GROWTH_LIMIT_MB = 30;
/** The JS heap after a full GC: only the per-round records the run keeps should add to it. */
const HEAP_GROWTH_LIMIT_MB = 5;

/** A full collection before each sample, so lazily collected garbage does not read as a leak. */
setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

/** A 1-layer ViT with d = 8, written by the project's code in a child process (keeps this one's backend free). */
function makeMicroFm(dir: string): Promise<void> {
  return makeTinyFm(dir, tinyVit({ hiddenSize: 8, numHiddenLayers: 1, intermediateSize: 16 }), 'micro-fm');
}

describe(`no leaks over ${ROUNDS} rounds (in-process runScenario)`, () => {
  let work: string;
  let fm: string;

  beforeAll(async () => {
    work = tempDir('leak');
    fm = join(work, 'fm');
    await makeMicroFm(fm);
  });

  it('keeps tensor counts flat and RSS within bounds', async () => {
    const scenario = parseScenario(
      `name: leak
seed: 3
model: { dir: ${fm} }
task: { dataset: mnist, trainLimit: 40, evalLimit: 100 }
partition: { family: iid }
federation: { clients: 2, clientsPerRound: 1, rounds: ${ROUNDS}, batchSize: 20, learningRate: 0.01, evalEvery: 50 }
method: { name: fedpetuning, lora: { rank: 2, alpha: 4, dropout: 0.1 } }
runtime: { workers: 1, backend: wasm }
`,
      join(work, 'leak.yaml'),
    );
    const rss = new Map<number, number>();
    const heap = new Map<number, number>();
    const started = performance.now();
    const outcome = await runScenario({
      scenario,
      resultsRoot: join(work, 'results'),
      runId: 'leak',
      log: (line) => {
        const m = /^round (\d+)\//.exec(line);
        if (m && Number(m[1]) % 20 === 0) {
          gc();
          const usage = process.memoryUsage();
          rss.set(Number(m[1]), usage.rss);
          heap.set(Number(m[1]), usage.heapUsed);
        }
      },
    });
    const seconds = (performance.now() - started) / 1000;

    expect(outcome.rounds).toHaveLength(ROUNDS);
    expect(outcome.summary?.rounds).toBe(ROUNDS);
    const counts = outcome.rounds.map((r) => r.tensors);
    expect(counts.every((t) => t !== undefined && t.server > 0 && t.actorMax > 0)).toBe(true);
    // Round 1 may warm caches; from round 2 on every round ends with exactly the same live tensors.
    const steady = counts.slice(1).map((t) => JSON.stringify(t));
    const changed = steady.map((t, i) => ({ round: i + 2, t })).filter(({ t }) => t !== steady[0]);
    expect(changed, `round 2: ${steady[0]}`).toEqual([]);

    expect([...rss.keys()]).toEqual(Array.from({ length: ROUNDS / 20 }, (_, i) => 20 * (i + 1)));
    const mb = (b: number) => b / 2 ** 20;
    const growth = mb((rss.get(ROUNDS) as number) - (rss.get(40) as number));
    const heapGrowth = mb((heap.get(ROUNDS) as number) - (heap.get(40) as number));
    console.log(
      `${ROUNDS} rounds in ${seconds.toFixed(1)} s; tensors ${steady[0]}; RSS MB by round: ${[...rss].map(([r, b]) => `${r}:${mb(b).toFixed(0)}`).join(' ')}; ` +
        `growth 40->${ROUNDS}: RSS ${growth.toFixed(1)} MB, heap ${heapGrowth.toFixed(2)} MB`,
    );
    expect(growth).toBeLessThan(RSS_GROWTH_LIMIT_MB);
    expect(heapGrowth).toBeLessThan(HEAP_GROWTH_LIMIT_MB);
  });
});
