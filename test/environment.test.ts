/**
 * environment.json: package versions read whatever a package's exports map hides, and the git
 * commit of fedpft's own checkout, never that of the repository the user runs it from.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, realpathSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { describeEnvironment, gitCommit, packageVersion, projectRoot } from '../src/results/environment.js';
import type { BackendInfo } from '../src/tensor/backend.js';
import { cli, makeTinyFm, REPO, tempDir, tinyScenario, writeScenario } from './helpers/tiny-run.js';

const BACKEND = { name: 'cpu', skipped: [], tfjsVersion: '4.22.0' } as unknown as BackendInfo;

function git(args: string[], cwd: string): string {
  return execFileSync('git', args, { cwd, stdio: ['ignore', 'pipe', 'ignore'] }).toString().trim();
}

/** A fresh repository with one commit; returns its HEAD. */
function initRepo(dir: string): string {
  mkdirSync(dir, { recursive: true });
  git(['init', '-q'], dir);
  writeFileSync(join(dir, 'file.txt'), 'the user\'s project\n');
  git(['add', 'file.txt'], dir);
  git(['-c', 'user.name=someone', '-c', 'user.email=someone@example.com', 'commit', '-q', '-m', 'user commit'], dir);
  return git(['rev-parse', 'HEAD'], dir);
}

/** What gitCommit should say for this project: its HEAD when REPO is the top of a checkout, else null. */
function ownHead(): string | null {
  try {
    return realpathSync(git(['rev-parse', '--show-toplevel'], REPO)) === realpathSync(REPO) ? git(['rev-parse', 'HEAD'], REPO) : null;
  } catch {
    return null;
  }
}

const version = (file: string) => (JSON.parse(readFileSync(file, 'utf8')) as { version: string }).version;

describe('environment.json', () => {
  let work = '';
  let userRepo = '';
  let userHead = '';
  const cwd = process.cwd();

  beforeAll(() => {
    work = tempDir('environment');
    userRepo = join(work, 'user-repo');
    userHead = initRepo(userRepo);
  });
  afterAll(() => process.chdir(cwd));

  it("records piscina's real version although its exports map hides package.json", () => {
    const expected = version(join(REPO, 'node_modules/piscina/package.json'));
    expect(expected).toBe('5.3.2');
    expect(packageVersion('piscina')).toBe(expected);
    const packages = describeEnvironment(BACKEND, 1, 'threads')['packages'] as Record<string, string>;
    expect(packages['piscina']).toBe(expected);
    for (const [name, v] of Object.entries(packages)) expect(v, name).toBe(version(join(REPO, 'node_modules', name, 'package.json')));
    expect(packageVersion('no-such-package-anywhere')).toBe('not installed');
  });

  it("records fedpft's own version, from this project's package.json, not the working directory's", () => {
    writeFileSync(join(userRepo, 'package.json'), JSON.stringify({ name: 'users-app', version: '9.9.9' }));
    process.chdir(userRepo);
    try {
      expect(realpathSync(projectRoot() as string)).toBe(realpathSync(REPO));
      expect(describeEnvironment(BACKEND, 1, 'threads')['fedpft']).toBe(version(join(REPO, 'package.json')));
      // Versions come from this project's install, not from the working directory.
      expect(packageVersion('piscina')).toBe('5.3.2');
    } finally {
      process.chdir(cwd);
    }
  });

  it("run from inside another git repository, records this project's commit, not that repository's", () => {
    const head = ownHead();
    process.chdir(userRepo);
    // Git's own variables would redirect it too.
    const saved = process.env['GIT_DIR'];
    process.env['GIT_DIR'] = join(userRepo, '.git');
    try {
      const commit = describeEnvironment(BACKEND, 1, 'threads')['gitCommit'] as string | null;
      expect(commit ?? '').not.toContain(userHead);
      if (head === null) expect(commit).toBeNull();
      else expect(commit?.replace(/\+dirty$/, '')).toBe(head);
    } finally {
      if (saved === undefined) delete process.env['GIT_DIR'];
      else process.env['GIT_DIR'] = saved;
      process.chdir(cwd);
    }
  });

  it('gitCommit: null for a package folder inside someone else\'s checkout, the commit at a checkout\'s top', () => {
    // fedpft installed as a dependency: <user repo>/node_modules/fedpft is no checkout of its own.
    const installed = join(userRepo, 'node_modules', 'fedpft');
    mkdirSync(installed, { recursive: true });
    writeFileSync(join(installed, 'package.json'), JSON.stringify({ name: 'fedpft', version: '0.1.0' }));
    expect(gitCommit(installed)).toBeNull();
    expect(gitCommit(join(work, 'not-a-repo'))).toBeNull();
    mkdirSync(join(work, 'plain'));
    expect(gitCommit(join(work, 'plain'))).toBeNull();
    expect(gitCommit(userRepo)).toBe(userHead);
    writeFileSync(join(userRepo, 'file.txt'), 'changed\n');
    expect(gitCommit(userRepo)).toBe(`${userHead}+dirty`);
  });

  it('through the CLI: a run started from another git repository records fedpft\'s commit and version', async () => {
    const fm = join(work, 'fm');
    await makeTinyFm(fm);
    const file = writeScenario(work, tinyScenario(fm).replace('rounds: 4', 'rounds: 1').replace('evalEvery: 2', 'evalEvery: 1'), 'tiny.yaml');
    const results = join(work, 'results');
    const r = await cli(['run', file, '--results', results, '--run-id', 'a'], userRepo);
    expect(r.code, r.stderr).toBe(0);
    const env = JSON.parse(readFileSync(join(results, 'tiny', 'a', 'environment.json'), 'utf8')) as Record<string, unknown>;
    expect(env['fedpft']).toBe(version(join(REPO, 'package.json')));
    expect((env['packages'] as Record<string, string>)['piscina']).toBe(version(join(REPO, 'node_modules/piscina/package.json')));
    const commit = env['gitCommit'] as string | null;
    expect(commit ?? '').not.toContain(userHead);
    const head = ownHead();
    if (head === null) expect(commit).toBeNull();
    else expect(commit?.replace(/\+dirty$/, '')).toBe(head);
  });
});
