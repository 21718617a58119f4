/**
 * `node --expose-gc dist/actors/bench-memory-child.js <scenario.yaml> <results-root>` (for `fedpft bench --sections memory`): what
 * `fedpft run` does (load the scenario, runScenario) with log lines dropped, then one JSON line
 * on stdout:
 * - maxRssBytes: the process's peak RSS (getrusage ru_maxrss, the number /usr/bin/time -f %M
 *   reports; worker threads included);
 * - startLiveBytes / startRssBytes: when the run announces its first round (data loaded,
 *   partition and per-client index arrays built, actors started and holding the client model),
 *   after a full GC: the server thread's live JS heap plus ArrayBuffers (where all per-client
 *   state lives), and the RSS;
 * - roundRssBytes: the RSS at the end of every round.
 */
import { runScenario } from '../src/run/run-scenario.js';
import { loadScenario } from '../src/scenario/load.js';
import { ACTOR_HOSTS } from './open-host.js';

const [file, root] = process.argv.slice(2);
if (!file || !root) {
  console.error('usage: node --expose-gc bench-memory-child.js <scenario.yaml> <results-root>');
  process.exit(2);
}
const gc = (globalThis as { gc?: () => void }).gc;
if (!gc) {
  console.error('bench-memory-child.js needs node --expose-gc');
  process.exit(2);
}
let start: { live: number; rss: number } | undefined;
const roundRssBytes: number[] = [];
await runScenario({
  scenario: await loadScenario(file),
  resultsRoot: root,
  runId: 'run',
  // The first line of a fresh run is the one runScenario logs right before round 1.
  log: () => {
    if (start) return;
    // Twice: ArrayBuffer backing stores freed by one full GC are only released when the next one starts.
    gc();
    gc();
    const m = process.memoryUsage();
    start = { live: m.heapUsed + m.arrayBuffers, rss: m.rss };
  },
  hosts: ACTOR_HOSTS,
  observers: [{ onRound: () => void roundRssBytes.push(process.memoryUsage.rss()) }],
});
console.log(JSON.stringify({ maxRssBytes: process.resourceUsage().maxRSS * 1024, startLiveBytes: start?.live ?? NaN, startRssBytes: start?.rss ?? NaN, roundRssBytes }));
