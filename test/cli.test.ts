import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { CLI, REPO, cli, makeTinyFm, tempDir, tinyScenario, writeScenario } from './helpers/tiny-run.js';

/** Every file and folder under `dir`, relative to it ([] when `dir` does not exist). */
function tree(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { recursive: true, encoding: 'utf8' }).sort();
}

describe('fedpft CLI', () => {
  let work: string;
  let fm: string;
  let good: string;

  beforeAll(async () => {
    if (!existsSync(CLI)) throw new Error(`${CLI} is missing: build first (npx tsc -p tsconfig.json)`);
    work = tempDir('cli');
    fm = join(work, 'fm');
    await makeTinyFm(fm);
    good = writeScenario(work, tinyScenario(fm), 'good.yaml');
  });

  /** A copy of the tiny FM in a fresh folder, for a test to damage. */
  function fmCopy(name: string): string {
    const dir = join(work, name);
    cpSync(fm, dir, { recursive: true });
    return dir;
  }

  /**
   * Runs `fedpft <args> --results <fresh dir>` (for `run`) and checks the user-error contract:
   * exit code 2, exactly one stderr line "fedpft: ..." containing every `mentions` string, no
   * stack trace, and nothing created under the results root. Returns that line.
   */
  async function expectUserError(args: string[], mentions: string[], resultsRoot = join(tempDir('cli-results'), 'results')): Promise<string> {
    const before = tree(resultsRoot);
    const r = await cli([...args, '--results', resultsRoot]);
    expect(r.code, r.stderr).toBe(2);
    expect(r.stderr).not.toContain('    at ');
    expect(r.stderr.endsWith('\n'), JSON.stringify(r.stderr)).toBe(true);
    const lines = r.stderr.slice(0, -1).split('\n');
    expect(lines, r.stderr).toHaveLength(1);
    const line = lines[0] as string;
    expect(line).toMatch(/^fedpft: \S/);
    for (const m of mentions) expect(line).toContain(m);
    expect(tree(resultsRoot)).toEqual(before);
    return line;
  }

  describe('bad input: exit 2, one line on stderr, nothing under --results', () => {
    it('malformed YAML', async () => {
      const file = writeScenario(work, 'name: tiny\nseed: [1, 2\nmodel: {dir: x}\n', 'malformed.yaml');
      const line = await expectUserError(['run', file], [file, 'invalid YAML']);
      expect(line).toMatch(/line \d+, column \d+/);
    });

    it('unknown field', async () => {
      const file = writeScenario(work, tinyScenario(fm).replace('  rounds: 4\n', '  rounds: 4\n  roundz: 3\n'), 'unknown.yaml');
      await expectUserError(['run', file], [file, 'federation.roundz', 'unknown field']);
    });

    it('clientsPerRound > clients', async () => {
      const file = writeScenario(work, tinyScenario(fm).replace('clientsPerRound: 4', 'clientsPerRound: 13'), 'per-round.yaml');
      await expectUserError(['run', file], [file, 'federation.clientsPerRound', '12', '13']);
    });

    it('missing FM directory', async () => {
      const missing = join(work, 'no-such-fm');
      const file = writeScenario(work, tinyScenario(missing), 'no-fm.yaml');
      await expectUserError(['run', file], [file, 'model.dir', missing]);
    });

    it('model.safetensors of garbage bytes', async () => {
      const dir = fmCopy('fm-garbage');
      writeFileSync(join(dir, 'model.safetensors'), Buffer.from('this is not a safetensors file\n'.repeat(40)));
      const file = writeScenario(work, tinyScenario(dir), 'garbage.yaml');
      await expectUserError(['run', file], [join(dir, 'model.safetensors'), 'header']);
    });

    it('truncated model.safetensors (a valid file cut in half)', async () => {
      const dir = fmCopy('fm-truncated');
      const weights = join(dir, 'model.safetensors');
      const bytes = readFileSync(weights);
      writeFileSync(weights, bytes.subarray(0, Math.floor(bytes.length / 2)));
      const file = writeScenario(work, tinyScenario(dir), 'truncated.yaml');
      const line = await expectUserError(['run', file], [weights]);
      // The header survives, so the error names the first tensor whose data is cut off.
      expect(line).toMatch(/model\.safetensors: vit\.\S+: /);
    });

    it('config.json whose hidden_size does not match the tensors', async () => {
      const dir = fmCopy('fm-shape');
      const config = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8')) as Record<string, unknown>;
      expect(config['hidden_size']).toBe(16);
      writeFileSync(join(dir, 'config.json'), JSON.stringify({ ...config, hidden_size: 24 }, null, 2));
      const file = writeScenario(work, tinyScenario(dir), 'shape.yaml');
      const line = await expectUserError(['run', file], [join(dir, 'model.safetensors'), 'does not match config.json']);
      expect(line).toMatch(/model\.safetensors: vit\.\S+: shape \[[\d,]+\]/);
    });

    it('a scenario file that does not exist', async () => {
      const file = join(work, 'does-not-exist.yaml');
      await expectUserError(['run', file], [file, 'not found']);
    });

    it('--workers 0', async () => {
      await expectUserError(['run', good, '--workers', '0'], ['--workers', '"0"']);
    });

    it('--backend foo, on every command that takes one (one list of backends)', async () => {
      const expected = ['--backend', 'expected auto | tensorflow | webgpu | wasm | cpu', '"foo"'];
      await expectUserError(['run', good, '--backend', 'foo'], expected);
      await expectUserError(['sweep', good, '--set', 'seed=1,2', '--backend', 'foo'], expected);
      await expectUserError(['ablate', good, '--backend', 'foo'], expected);
    });

    it('--actors foo, and --actors broker without runtime.broker, on every command that takes it', async () => {
      const expected = ['--actors', 'expected threads | processes | broker', '"foo"'];
      await expectUserError(['run', good, '--actors', 'foo'], expected);
      await expectUserError(['sweep', good, '--set', 'seed=1,2', '--actors', 'foo'], expected);
      await expectUserError(['ablate', good, '--actors', 'foo'], expected);
      await expectUserError(['run', good, '--actors', 'broker'], ['runtime.broker', '--actors broker needs runtime.broker.url']);
    });

    it('bench --peer with an unknown peer: one line, exit 2, before measuring anything', async () => {
      const r = await cli(['bench', '--quick', '--peer', 'jax']);
      expect(r.code).toBe(2);
      expect(r.stderr.trim().split('\n')).toEqual(['fedpft: command line: --peer: expected torch, got "jax"']);
      expect(r.stdout).toBe('');
    });

    it('bench --model random:<shape>: an unknown shape, or a section that needs weights, is one line, exit 2', async () => {
      const unknown = await cli(['bench', '--quick', '--sections', 'engine', '--model', 'random:gpt-2']);
      expect(unknown.code).toBe(2);
      expect(unknown.stderr.trim().split('\n')).toEqual(['fedpft: command line: --model: expected an FM directory or random:bert-base, got "random:gpt-2"']);
      const weights = await cli(['bench', '--quick', '--sections', 'engine,methods', '--model', 'random:bert-base']);
      expect(weights.code).toBe(2);
      expect(weights.stderr.trim().split('\n')).toEqual(['fedpft: command line: --model: random:bert-base has no weights: time it with --sections engine']);
    });

    it('--resume with no results at all', async () => {
      const root = join(tempDir('cli-results'), 'results');
      await expectUserError(['run', good, '--resume'], [join(root, 'tiny'), 'no unfinished run'], root);
    });

    it('--resume when the only run is finished', async () => {
      const root = join(tempDir('cli-results'), 'results');
      const done = join(root, 'tiny', 'finished');
      mkdirSync(done, { recursive: true });
      writeFileSync(join(done, 'scenario.json'), '{}\n');
      writeFileSync(join(done, 'summary.json'), '{}\n');
      await expectUserError(['run', good, '--resume'], [join(root, 'tiny'), 'no unfinished run'], root);
    });
  });

  describe('partition', () => {
    it('prints a table with one row per client and a total row', async () => {
      const r = await cli(['partition', good]);
      expect(r.code, r.stderr).toBe(0);
      const rows = r.stdout
        .split('\n')
        .filter((l) => l.startsWith('│'))
        .map((l) => l.split('│').slice(1, -1).map((c) => c.trim()));
      const [head, ...body] = rows;
      expect(head?.slice(0, 2)).toEqual(['client', 'size']);
      expect(head).toHaveLength(12); // client, size, 10 classes
      expect(body.map((row) => row[0])).toEqual([...Array.from({ length: 12 }, (_, i) => String(i)), 'total']);
      const clients = body.slice(0, 12).map((row) => row.slice(1).map(Number));
      const total = (body[12] as string[]).slice(1).map(Number);
      expect(total[0]).toBe(480);
      // Each row's class counts add up to its size; the total row adds up the columns.
      for (const [size, ...counts] of clients) expect(counts.reduce((s, x) => s + x, 0)).toBe(size);
      total.forEach((t, j) => expect(clients.reduce((s, row) => s + (row[j] as number), 0)).toBe(t));
    });

    it('--json records family, alpha, seed and classOrder, and sizes summing to trainLimit', async () => {
      const r = await cli(['partition', good, '--json']);
      expect(r.code, r.stderr).toBe(0);
      const p = JSON.parse(r.stdout) as { family: string; alpha: number | null; seed: number; classOrder: number[]; clients: Array<{ id: number; size: number; counts: number[] }> };
      expect(p.family).toBe('dirichlet');
      expect(p.alpha).toBe(0.5);
      expect(p.seed).toBe(7);
      expect(p.classOrder).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
      expect(p.clients.map((c) => c.id)).toEqual(Array.from({ length: 12 }, (_, i) => i));
      expect(p.clients.reduce((s, c) => s + c.size, 0)).toBe(480);
      for (const c of p.clients) expect(c.counts.reduce((s, x) => s + x, 0)).toBe(c.size);
      // Deterministic: the same command prints the same partition.
      expect((await cli(['partition', good, '--json'])).stdout).toBe(r.stdout);
    });
  });
});

describe('fedpft --version', () => {
  it("prints package.json's version and exits 0, whatever the working directory", async () => {
    if (!existsSync(CLI)) throw new Error(`${CLI} is missing: build first (npx tsc -p tsconfig.json)`);
    const { version } = JSON.parse(readFileSync(join(REPO, 'package.json'), 'utf8')) as { version: string };
    for (const cwd of [REPO, tempDir('cli-version')]) {
      const r = await cli(['--version'], cwd);
      expect(r, cwd).toEqual({ code: 0, stdout: `${version}\n`, stderr: '' });
    }
  });
});
