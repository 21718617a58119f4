import { join } from 'node:path';
import { beforeAll, describe, expect, it, vi } from 'vitest';
import type { TaskData } from '../src/data/dataset.js';
import { loadTask } from '../src/data/registry.js';
import { createMethod } from '../src/methods/registry.js';
import { loadVit, saveVit } from '../src/model/vit-checkpoint.js';
import { initVitParams } from '../src/model/vit.js';
import type { DistillOptions } from '../src/proxy/distill.js';
import { parseScenario } from '../src/scenario/load.js';
import { initBackend } from '../src/tensor/backend.js';
import { Rng } from '../src/util/rng.js';
import { METHOD_YAML, TINY_FM4, tinyMethodScenario } from './helpers/tiny-fm4.js';
import { tempDir } from './helpers/tiny-run.js';

/** Every distill() call's options, recorded on the way through to the real function. */
const calls = vi.hoisted(() => [] as DistillOptions[]);
vi.mock('../src/proxy/distill.js', async (original) => {
  const real = await original<typeof import('../src/proxy/distill.js')>();
  return {
    ...real,
    distill: (...args: Parameters<typeof real.distill>) => {
      calls.push(args[3]);
      return real.distill(...args);
    },
  };
});

let fmDir: string;
let data: TaskData;

beforeAll(async () => {
  await initBackend('wasm', 'exact');
  fmDir = join(tempDir('fedot-objective'), 'fm');
  await saveVit(fmDir, TINY_FM4, initVitParams(TINY_FM4, new Rng('tiny-fm4')), Array.from({ length: 10 }, (_, i) => `c${i}`));
  data = loadTask('mnist', { trainLimit: 100, evalLimit: 50 });
});

/** The layers FedOT's emulator distillation compares: [student layer, FM layer] pairs. */
async function compared(objective: string): Promise<{ pairs: [number, number][]; info: Record<string, unknown> }> {
  calls.length = 0;
  const scenario = parseScenario(tinyMethodScenario(fmDir, `${METHOD_YAML.fedot}\ndistillObjective: ${objective}`), 'fedot.yaml', { checkFiles: false });
  const method = createMethod(scenario.method);
  const fm = loadVit(fmDir);
  try {
    const setup = await method.setup({ scenario, fm, data, log: () => {} });
    expect(calls).toHaveLength(1);
    const opts = calls[0] as DistillOptions;
    return { pairs: opts.layers.map((j) => [j, opts.teacherLayerOf?.(j) ?? j]), info: setup.info['distillBefore'] as Record<string, unknown> };
  } finally {
    for (const t of fm.params.values()) t.dispose();
    method.dispose();
  }
}

describe("FedOT's emulator distillation objective", () => {
  // L = 4, a = 1: student = adapter 0, emulator (FM layer 1 kept of the middle 1-2), adapter 3.
  it("emulator-output (Offsite-Tuning's): the emulator's output against the FM's middle block's, layer 2", async () => {
    const { pairs, info } = await compared('emulator-output');
    expect(pairs).toEqual([[1, 2]]);
    expect(info['objective']).toBe('emulator-output');
  });

  it('layers: every student layer from the emulator up against the FM layer it stands for', async () => {
    const { pairs, info } = await compared('layers');
    expect(pairs).toEqual([[1, 1], [2, 3]]);
    expect(info['objective']).toBe('layers');
  });
});
