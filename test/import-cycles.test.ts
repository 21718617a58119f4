import { execFile } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { REPO, tempDir } from './helpers/tiny-run.js';

const run = promisify(execFile);
const DEPCRUISE = join(REPO, 'node_modules/.bin/depcruise');
const CONFIG = join(REPO, '.dependency-cruiser.cjs');

/** depcruise with the project's rules over `dir`: its exit code and what it printed. */
async function cruise(dir: string): Promise<{ code: number; out: string }> {
  try {
    const { stdout } = await run(DEPCRUISE, [dir, '--config', CONFIG], { cwd: REPO });
    return { code: 0, out: stdout };
  } catch (err) {
    const e = err as { code?: number; stdout?: string };
    return { code: e.code ?? 1, out: e.stdout ?? '' };
  }
}

describe('imports flow one way (npm run deps, part of npm test)', () => {
  it('fails on a cycle made of type-only imports, and passes once the declaration moves', async () => {
    const dir = join(tempDir('cycles'), 'src');
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'a.ts'), "import type { B } from './b.js';\nexport interface A { b: B }\n");
    writeFileSync(join(dir, 'b.ts'), "import type { A } from './a.js';\nexport interface B { a?: A }\n");
    const bad = await cruise(dir);
    expect(bad.code).not.toBe(0);
    expect(bad.out).toMatch(/no-circular/);
    writeFileSync(join(dir, 'b.ts'), 'export interface B { n: number }\n');
    expect((await cruise(dir)).code).toBe(0);
  });
});
