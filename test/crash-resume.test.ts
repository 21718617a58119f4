/**
 * Crash safety: a real `fedpft run` child process is killed with SIGKILL at several points and
 * then resumed with --resume; the finished run must be bit-identical (round metrics and final
 * weights) to one that was never interrupted. A torn checkpoint must be refused, never used,
 * and leftover temp files of interrupted atomic writes must be ignored.
 */
import { copyFileSync, existsSync, mkdirSync, readFileSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { RunDir } from '../src/results/run-dir.js';
import { UserError } from '../src/util/errors.js';
import { outcome } from './helpers/kit.js';
import { start, waitFor } from './helpers/processes.js';
import { makeTinyFm4, METHOD_YAML, tinyMethodScenario } from './helpers/tiny-fm4.js';
import { cli, makeTinyFm, tempDir, tinyScenario, writeScenario } from './helpers/tiny-run.js';

function lineCount(file: string): number {
  if (!existsSync(file)) return 0;
  return readFileSync(file, 'utf8').split('\n').filter((l) => l.trim() !== '').length;
}

/** What was on disk when the process died: round lines and the checkpointed round. */
function stateOf(root: string, name: string, id: string): { lines: number; checkpoint: number | null } {
  const dir = join(root, name, id);
  const ckpt = existsSync(join(dir, 'checkpoint.safetensors')) ? RunDir.open(root, name, id).loadCheckpoint() : null;
  return { lines: lineCount(join(dir, 'rounds.jsonl')), checkpoint: ckpt?.round ?? null };
}

describe('crash and resume (SIGKILL of a real run)', () => {
  let work: string;
  let tiny: string;
  let tiny4: string;
  const results = () => join(work, 'results');
  const runDir = (name: string, id: string) => join(results(), name, id);
  const runArgs = (file: string, id: string) => ['run', file, '--results', results(), '--run-id', id, '--workers', '2'];
  const resumeArgs = (file: string, id?: string) => ['run', file, '--results', results(), ...(id ? ['--resume', id] : ['--resume']), '--workers', '2'];

  /** Kills the run with SIGKILL once cond holds; returns what was on disk at that moment. */
  async function killWhen(args: string[], name: string, id: string, cond: () => boolean, what: string) {
    const { child, exited } = start(args);
    await waitFor(cond, what, exited);
    child.kill('SIGKILL');
    const exit = await exited;
    expect(exit.signal, exit.stderr).toBe('SIGKILL');
    expect(existsSync(join(runDir(name, id), 'summary.json'))).toBe(false);
    return stateOf(results(), name, id);
  }

  /** Resumes run `id` to its end and compares it with the uninterrupted run `ref`. */
  async function resumeToEnd(file: string, name: string, id: string): Promise<void> {
    const r = await cli(resumeArgs(file, id));
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain(`resuming ${runDir(name, id)}`);
    expect(outcome(runDir(name, id))).toEqual(outcome(runDir(name, 'ref')));
  }

  beforeAll(async () => {
    work = tempDir('crash');
    await Promise.all([makeTinyFm(join(work, 'fm')), makeTinyFm4(join(work, 'fm4'))]);
    // Rounds take ~0.1 s; enough of them are left after each kill point that a late kill (a loaded
    // machine delays the 2 ms polls) still lands before the run ends.
    tiny = writeScenario(work, tinyScenario(join(work, 'fm')).replace('rounds: 4', 'rounds: 6'), 'tiny.yaml');
    // FedPFT aligns every 2 rounds: round 2 changes the frozen client model and the method state.
    tiny4 = writeScenario(work, tinyMethodScenario(join(work, 'fm4'), METHOD_YAML.fedpft()), 'tiny4.yaml');
    // The uninterrupted references, side by side.
    const [a, b] = await Promise.all([cli(runArgs(tiny, 'ref')), cli(runArgs(tiny4, 'ref'))]);
    expect(a.code, a.stderr).toBe(0);
    expect(b.code, b.stderr).toBe(0);
  });

  it('(a) killed after round 1 is recorded, resumed, killed again after round 3, resumed: bit-identical', async () => {
    const rounds = join(runDir('tiny', 'a'), 'rounds.jsonl');
    const first = await killWhen(runArgs(tiny, 'a'), 'tiny', 'a', () => lineCount(rounds) >= 1, 'round 1 is recorded');
    expect(first.lines).toBeLessThan(6);
    const second = await killWhen(resumeArgs(tiny, 'a'), 'tiny', 'a', () => lineCount(rounds) >= 3, 'round 3 is recorded');
    expect(second.lines).toBeLessThan(6);
    console.log(`(a) killed with ${first.lines} round line(s) and checkpoint ${first.checkpoint}, then with ${second.lines} and checkpoint ${second.checkpoint}`);
    await resumeToEnd(tiny, 'tiny', 'a');
  });

  // The early kill waits for scenario.json rather than a fixed time (e.g. 1.5 s), which would land
  // before or after it depending on the machine's load; this is the moment a fixed time aims at.
  it('(b) killed early, once the run is marked started (scenario.json) but before any round: --resume starts from scratch', async () => {
    const dir = runDir('tiny', 'b');
    const state = await killWhen(runArgs(tiny, 'b'), 'tiny', 'b', () => existsSync(join(dir, 'scenario.json')), 'scenario.json exists');
    expect(state).toEqual({ lines: 0, checkpoint: null });
    // scenario.json is written last of the start-up files, so the others are there too.
    expect(existsSync(join(dir, 'partition.json'))).toBe(true);
    await resumeToEnd(tiny, 'tiny', 'b');
  });

  it('(b) a run directory without scenario.json (killed while starting) is refused with one line, exit 2', async () => {
    const dir = runDir('tiny', 'half-started');
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'environment.json'), '{}\n');
    const r = await cli(resumeArgs(tiny, 'half-started'));
    expect(r.code, r.stderr).toBe(2);
    expect(r.stderr.trimEnd().split('\n')).toEqual([`fedpft: ${join(dir, 'scenario.json')}: file not found (the run was interrupted before it started?); start a new run instead`]);
  });

  it('(c) FedPFT killed right after an alignment round is recorded: resumes bit-identical', async () => {
    const rounds = join(runDir('tiny4', 'c'), 'rounds.jsonl');
    const state = await killWhen(runArgs(tiny4, 'c'), 'tiny4', 'c', () => lineCount(rounds) >= 2, 'round 2 (alignment) is recorded');
    const line2 = JSON.parse(readFileSync(rounds, 'utf8').split('\n')[1] as string) as { method?: { aligned?: boolean } };
    expect(line2.method?.aligned).toBe(true);
    console.log(`(c) FedPFT killed with ${state.lines} round line(s) and checkpoint ${state.checkpoint}`);
    await resumeToEnd(tiny4, 'tiny4', 'c');
  });

  it('a torn checkpoint is refused (one line, exit 2), and leftover *.tmp-* files are ignored', async () => {
    const dir = runDir('tiny', 'torn');
    const stopped = await cli([...runArgs(tiny, 'torn'), '--stop-after-round', '2']);
    expect(stopped.code, stopped.stderr).toBe(0);
    const file = join(dir, 'checkpoint.safetensors');
    const good = readFileSync(file);
    const roundsBefore = readFileSync(join(dir, 'rounds.jsonl'), 'utf8');

    // In-process: the checkpoint cut at any length (inside the prefix, the header or the data) is
    // an error, never a valid checkpoint.
    const open = () => RunDir.open(results(), 'tiny', 'torn');
    for (let cut = 0; cut < good.length; cut += Math.max(1, Math.floor(good.length / 60))) {
      writeFileSync(file, good.subarray(0, cut));
      expect(() => open().loadCheckpoint(), `cut at ${cut}`).toThrow(UserError);
    }
    writeFileSync(file, good.subarray(0, good.length - 1));
    expect(() => open().loadCheckpoint()).toThrow(UserError);

    // Through the CLI: half a file.
    {
      writeFileSync(file, good);
      truncateSync(file, Math.floor(good.length / 2));
      const r = await cli(resumeArgs(tiny, 'torn'));
      expect(r.code, r.stderr).toBe(2);
      const lines = r.stderr.trimEnd().split('\n');
      expect(lines, r.stderr).toHaveLength(1);
      expect(lines[0]).toMatch(new RegExp(`^fedpft: ${file.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}: `));
      expect(existsSync(join(dir, 'summary.json'))).toBe(false);
      expect(readFileSync(join(dir, 'rounds.jsonl'), 'utf8')).toBe(roundsBefore);
    }

    // The intact checkpoint back, with what interrupted atomic writes leave behind around it.
    writeFileSync(file, good);
    writeFileSync(`${file}.tmp-999999`, good.subarray(0, 100));
    copyFileSync(file, `${file}.tmp-999998`);
    writeFileSync(join(dir, 'rounds.jsonl.tmp-999999'), '{"round": 3, "lr"');
    writeFileSync(join(dir, 'scenario.json.tmp-999999'), '{"name": "other');
    writeFileSync(join(dir, 'summary.json.tmp-999999'), '{}\n');
    writeFileSync(join(results(), 'tiny', 'zzzz.tmp-999999'), 'not a run\n');
    // --resume without a run id picks "torn", the newest unfinished run: a tmp file is not a run,
    // and a summary.json.tmp-* does not make a run finished.
    const r = await cli(resumeArgs(tiny));
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain(`resuming ${dir} at round 3`);
    expect(outcome(dir)).toEqual(outcome(runDir('tiny', 'ref')));
  });
});
