import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { lockDir } from '../src/util/dir-lock.js';
import { UserError } from '../src/util/errors.js';
import { cli, makeTinyFm, tempDir, tinyScenario, writeScenario } from './helpers/tiny-run.js';

describe('lockDir', () => {
  it('admits one holder at a time, releases, and takes over a lock whose process is gone', () => {
    const dir = tempDir('lock');
    const release = lockDir(dir, 'run');
    expect(() => lockDir(dir, 'run')).toThrow(UserError);
    expect(() => lockDir(dir, 'run')).toThrow(new RegExp(`in use by process ${process.pid}`));
    release();
    expect(existsSync(join(dir, '.lock'))).toBe(false);
    lockDir(dir, 'run')();
    // Linux pids stay below 2^22; this one belongs to no process.
    writeFileSync(join(dir, '.lock'), String(2 ** 22 + 7));
    const again = lockDir(dir, 'run');
    again();
  });
});

describe('a second command on a run or grid in use', () => {
  let work = '';
  beforeAll(async () => {
    work = tempDir('lock-cli');
    await makeTinyFm(join(work, 'fm'));
  });

  it('is refused with one line and exit 2 (--resume of a run, a grid started twice), and leaves the run resumable', async () => {
    const file = writeScenario(work, tinyScenario(join(work, 'fm')));
    const stopped = await cli(['run', file, '--results', join(work, 'res'), '--run-id', 'a', '--stop-after-round', '1']);
    expect(stopped.code, stopped.stderr).toBe(0);
    // This test process stands in for a live owner.
    writeFileSync(join(work, 'res', 'tiny', 'a', '.lock'), String(process.pid));
    const busy = await cli(['run', file, '--results', join(work, 'res'), '--resume', 'a']);
    expect(busy.code).toBe(2);
    expect(busy.stderr.trim().split('\n')).toHaveLength(1);
    expect(busy.stderr).toMatch(/this run is in use by process \d+/);
    writeFileSync(join(work, 'res', 'tiny', 'a', '.lock'), String(2 ** 22 + 7));
    const resumed = await cli(['run', file, '--results', join(work, 'res'), '--resume', 'a']);
    expect(resumed.code, resumed.stderr).toBe(0);
    expect(existsSync(join(work, 'res', 'tiny', 'a', '.lock'))).toBe(false);

    mkdirSync(join(work, 'res', 'g'), { recursive: true });
    writeFileSync(join(work, 'res', 'g', '.lock'), String(process.pid));
    const grid = await cli(['sweep', file, '--set', 'partition.alpha=1,2', '--results', join(work, 'res'), '--name', 'g']);
    expect(grid.code).toBe(2);
    expect(grid.stderr).toMatch(/this grid is in use by process \d+/);
  });
});
