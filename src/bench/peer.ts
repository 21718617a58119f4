import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { projectRoot } from '../results/environment.js';

/** PyTorch's twin of one engine FM: ms per step at one thread, best and median of the repeats. */
export interface PeerRun {
  model: string;
  full: { msPerStep: number; medianMsPerStep: number };
  lora: { msPerStep: number; medianMsPerStep: number };
  torch: string;
  python: string;
}

export type PeerBench = { available: true; runs: PeerRun[] } | { available: false; reason: string };

export const PEER_DEFINITION =
  'peer = src/bench/torch-twin.py: the engine step in PyTorch on the same FM config, batch, text length and trainable sets (full; LoRA r=8 alpha 16 on q, k, v, output plus head), AdamW, torch.set_num_threads(1) and OMP/MKL/OpenBLAS threads 1, best of the repeats (as the engine section reports its own); ratio = this project\'s ms per step / the twin\'s';

/** The first Python on this machine that imports torch (Debian's python3-torch is /usr/bin/python3's), or null. */
function pythonWithTorch(): string | null {
  for (const python of ['python3', '/usr/bin/python3']) {
    const r = spawnSync(python, ['-c', 'import torch'], { stdio: 'ignore' });
    if (!r.error && r.status === 0) return python;
  }
  return null;
}

const ONE_THREAD = { OMP_NUM_THREADS: '1', MKL_NUM_THREADS: '1', OPENBLAS_NUM_THREADS: '1' };

/** Times the twin for each engine FM with the engine's own sizes; never needed by the tests. */
export function benchPeer(runs: ReadonlyArray<{ model: string; batch: number; steps: number; textLength: number }>, repeats: number): PeerBench {
  const python = pythonWithTorch();
  if (!python) return { available: false, reason: 'python3 cannot import torch here (Debian: apt-get install python3-torch libopenblas0-pthread)' };
  const script = join(projectRoot() ?? '.', 'src/bench/torch-twin.py');
  if (!existsSync(script)) return { available: false, reason: `${script} is missing (the PyTorch twin ships with the source tree)` };
  const out: PeerRun[] = [];
  for (const r of runs) {
    const args = [script, r.model, '--batch', String(r.batch), '--steps', String(r.steps), '--repeats', String(repeats), '--text-length', String(r.textLength)];
    const p = spawnSync(python, args, { encoding: 'utf8', env: { ...process.env, ...ONE_THREAD }, maxBuffer: 1 << 20 });
    if (p.status !== 0) throw new Error(`bench --peer torch: ${python} ${args.join(' ')} failed: ${(p.stderr || p.error?.message || '').trim().split('\n').pop() ?? ''}`);
    const lines = p.stdout.trim().split('\n').map((l) => JSON.parse(l) as { kind: string; msPerStep: number; medianMsPerStep: number; torch: string });
    const kind = (k: string) => {
      const line = lines.find((l) => l.kind === k);
      if (!line) throw new Error(`bench --peer torch: the twin printed no ${k} step`);
      return { msPerStep: line.msPerStep, medianMsPerStep: line.medianMsPerStep };
    };
    out.push({ model: r.model, full: kind('full'), lora: kind('lora'), torch: lines[0]?.torch ?? '?', python });
  }
  return { available: true, runs: out };
}
