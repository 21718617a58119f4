import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import type { ApozReport } from '../src/client/apoz-probe.js';
import { patchBytes } from '../src/client/frozen-patch.js';
import type { TaskData } from '../src/data/dataset.js';
import { loadTask } from '../src/data/registry.js';
import { FullModel } from '../src/methods/full-model.js';
import type { AggregatedRound, ClientModelSpec, Method, MethodSetup, RoundHookResult } from '../src/methods/method.js';
import { createMethod } from '../src/methods/registry.js';
import { loadVit } from '../src/model/vit-checkpoint.js';
import { initVitParams } from '../src/model/vit.js';
import { saveVit } from '../src/model/vit-checkpoint.js';
import { parseScenario } from '../src/scenario/load.js';
import { initBackend } from '../src/tensor/backend.js';
import { Rng } from '../src/util/rng.js';
import { randomNormal } from './helpers/numeric.js';
import { METHOD_YAML, TINY_FM4, tinyMethodScenario } from './helpers/tiny-fm4.js';
import { tempDir } from './helpers/tiny-run.js';

/**
 * The method plug-ins, in process, on the 4-layer tiny FM (hidden 16, ff 64): what the
 * evaluation model holds after a plug-in, trainable counts, FedPFT's sub-FM shapes, and which
 * FedPFT variants distil when. Every expectation is computed here from the FM file and the
 * scenario's numbers, not from the methods' own bookkeeping.
 */

const D = TINY_FM4.hiddenSize;
const L = TINY_FM4.numHiddenLayers;
const FF = TINY_FM4.intermediateSize;
const C = 10;
const RANK = 2;
const TARGETS = ['attention.attention.query', 'attention.attention.key', 'attention.attention.value', 'attention.output.dense'];
const KEEP = 0.25;
/** Retained by default: the first and last layer. */
const COMPRESSED = [1, 2];
const P = 0.5;
const INTERVAL = 2;

let fmDir: string;
let data: TaskData;
/** The FM as written to disk, by internal name: the reference every comparison uses. */
let reference: Map<string, { shape: number[]; data: Float32Array }>;

const layerOf = (name: string): number | null => {
  const m = /^vit\.encoder\.layer\.(\d+)\./.exec(name);
  return m ? Number(m[1]) : null;
};
const withLayer = (name: string, l: number) => name.replace(/^vit\.encoder\.layer\.\d+\./, `vit.encoder.layer.${l}.`);
const sameBits = (a: Float32Array, b: Float32Array) =>
  a.length === b.length && Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(Buffer.from(b.buffer, b.byteOffset, b.byteLength));

function loraNames(layers: readonly number[]): string[] {
  return layers.flatMap((l) => TARGETS.flatMap((t) => [`vit.encoder.layer.${l}.${t}.lora_A.weight`, `vit.encoder.layer.${l}.${t}.lora_B.weight`]));
}

/** The slices of `global` by the client model's trainable names (spec order, spec shapes). */
function slices(spec: ClientModelSpec, global: Float32Array): Map<string, Float32Array> {
  const shapes = new Map(spec.tensors.map((t) => [t.name, t.shape]));
  const out = new Map<string, Float32Array>();
  let offset = 0;
  for (const name of spec.trainable) {
    const size = (shapes.get(name) as number[]).reduce((a, b) => a * b, 1);
    out.set(name, global.slice(offset, offset + size));
    offset += size;
  }
  expect(offset).toBe(global.length);
  return out;
}

async function setUp(methodYaml: string): Promise<{ method: Method; setup: MethodSetup }> {
  const scenario = parseScenario(tinyMethodScenario(fmDir, methodYaml), 'methods.yaml', { checkFiles: false });
  const method = createMethod(scenario.method);
  const fm = loadVit(fmDir);
  try {
    const setup = await method.setup({ scenario, fm, data, log: () => {} });
    return { method, setup };
  } finally {
    for (const t of fm.params.values()) t.dispose();
  }
}

/** Evaluates `global` and returns the FullModel instance the method evaluated with. */
async function evaluatedModel(method: Method, global: Float32Array): Promise<FullModel> {
  const spy = vi.spyOn(FullModel.prototype, 'evaluate');
  try {
    const result = await method.evaluate(global);
    expect(result.n).toBe(data.validation.n);
    expect(spy).toHaveBeenCalledTimes(1);
    return spy.mock.contexts[0] as FullModel;
  } finally {
    spy.mockRestore();
  }
}

/**
 * Every tensor of the evaluation model is either one of `expectedTrainable` (value: the global
 * slice given for it) or an FM tensor, bit for bit; the FM's own head is the only FM tensor
 * absent (replaced by the task's head).
 */
function checkPlugIn(full: FullModel, expectedTrainable: Map<string, Float32Array>): void {
  const params = full.model.params;
  expect([...full.model.spec.trainable].sort()).toEqual([...expectedTrainable.keys()].sort());
  const mismatches: string[] = [];
  for (const [name, t] of params) {
    const got = t.dataSync() as Float32Array;
    const want = expectedTrainable.get(name) ?? reference.get(name)?.data;
    if (!want) mismatches.push(`${name}: neither trainable nor an FM tensor`);
    else if (!sameBits(got, want)) mismatches.push(`${name}: values differ`);
    else if (!expectedTrainable.has(name) && t.shape.join(',') !== (reference.get(name) as { shape: number[] }).shape.join(',')) mismatches.push(`${name}: shape`);
  }
  for (const name of reference.keys()) if (!name.startsWith('classifier.') && !params.has(name)) mismatches.push(`${name}: FM tensor missing`);
  expect(mismatches).toEqual([]);
}

beforeAll(async () => {
  await initBackend('wasm', 'exact');
  fmDir = join(tempDir('methods'), 'fm');
  await saveVit(fmDir, TINY_FM4, initVitParams(TINY_FM4, new Rng('tiny-fm4')), Array.from({ length: C }, (_, i) => `c${i}`));
  const fm = loadVit(fmDir);
  reference = new Map([...fm.params].map(([name, t]) => [name, { shape: t.shape, data: new Float32Array(t.dataSync() as Float32Array) }]));
  for (const t of fm.params.values()) t.dispose();
  data = loadTask('mnist', { trainLimit: 300, evalLimit: 100 });
});

describe('plug-in: evaluation writes exactly LoRA and head into the full FM', () => {
  const methods: Method[] = [];
  afterEach(() => {
    for (const m of methods.splice(0)) m.dispose();
  });

  it('fedpetuning', async () => {
    const { method, setup } = await setUp(METHOD_YAML.fedpetuning);
    methods.push(method);
    const global = randomNormal(new Rng('pet-global'), setup.initial.length);
    const full = await evaluatedModel(method, global);
    const expected = slices(setup.clientModel, global);
    expect([...expected.keys()].sort()).toEqual([...loraNames([0, 1, 2, 3]), 'classifier.bias', 'classifier.weight'].sort());
    checkPlugIn(full, expected);
  });

  it('fedpft: before and after a realignment, the FM (its FFNs included) is untouched', async () => {
    const { method, setup } = await setUp(METHOD_YAML.fedpft());
    methods.push(method);
    const global = randomNormal(new Rng('pft-global'), setup.initial.length);
    checkPlugIn(await evaluatedModel(method, global), slices(setup.clientModel, global));

    // An alignment round with fake APoZ reports, then plug in another vector.
    await (method.afterAggregate as AfterAggregate)(fakeRound(INTERVAL, global, fakeApoz(setup)));
    const next = randomNormal(new Rng('pft-global-2'), setup.initial.length);
    checkPlugIn(await evaluatedModel(method, next), slices(setup.clientModel, next));
  });

  it('fedot: adapter LoRA goes to the FM layers the emulator layers stand for; middle layers get none', async () => {
    const { method, setup } = await setUp(METHOD_YAML.fedot);
    methods.push(method);
    // L = 4, a = 1: adapters 0 and 3; the middle [1, 2] layer-dropped to 1 layer: index round(0) = 0 -> FM layer 1.
    const layerMap = [0, 1, 3];
    expect(setup.info['layerMap']).toEqual(layerMap);
    expect(setup.clientModel.config.numHiddenLayers).toBe(3);
    const global = randomNormal(new Rng('ot-global'), setup.initial.length);
    const expected = new Map<string, Float32Array>();
    for (const [name, slice] of slices(setup.clientModel, global)) {
      const l = layerOf(name);
      expected.set(l === null ? name : withLayer(name, layerMap[l] as number), slice);
    }
    expect([...expected.keys()].sort()).toEqual([...loraNames([0, 3]), 'classifier.bias', 'classifier.weight'].sort());
    checkPlugIn(await evaluatedModel(method, global), expected);
  });
});

/** The values of `data` that belong to `neurons`, in storage order. */
function patchedBefore(data: Float32Array, neuron: (k: number) => number, neurons: readonly number[]): number[] {
  return Array.from(data).filter((_, k) => neurons.includes(neuron(k)));
}

type AfterAggregate = (c: AggregatedRound) => Promise<RoundHookResult>;

function fakeRound(round: number, global: Float32Array, reports: unknown[]): AggregatedRound {
  return { round, global, clients: reports.map((_, c) => c), reports };
}

/** Three clients' reports with distinct pooled counts per neuron, so the selection has no ties. */
function fakeApoz(setup: MethodSetup): ApozReport[] {
  const widths = COMPRESSED.map((l) => setup.clientModel.config.intermediateSizes?.[l] as number);
  return [0, 1, 2].map((c) => ({
    layers: COMPRESSED,
    // Pooled count of neuron i in layer l: 3 * ((7 i + 3 l) mod w) + (0 + 1 + 2), all distinct.
    zeros: widths.map((w, k) => Int32Array.from({ length: w }, (_, i) => ((7 * i + 3 * (COMPRESSED[k] as number)) % w) + c)),
    positions: 100,
  }));
}

describe('trainable parameter counts', () => {
  it('are equal for fedpetuning, fedot (rank scaled by L / 2a) and fedpft, and match a hand count', async () => {
    const hand = L * TARGETS.length * 2 * D * RANK + D * C + C;
    // fedot: only the 2a = 2 adapter layers carry LoRA, at rank RANK * L / 2a.
    const handOt = 2 * TARGETS.length * 2 * D * ((RANK * L) / 2) + D * C + C;
    expect(handOt).toBe(hand);
    for (const yaml of [METHOD_YAML.fedpetuning, METHOD_YAML.fedot, METHOD_YAML.fedpft('fedpft-n')]) {
      const { method, setup } = await setUp(yaml);
      try {
        expect(setup.info['trainableParams']).toBe(hand);
        expect(setup.initial.length).toBe(hand);
        const sizes = new Map(setup.clientModel.tensors.map((t) => [t.name, t.data.length]));
        expect(setup.clientModel.trainable.reduce((s, n) => s + (sizes.get(n) as number), 0)).toBe(hand);
      } finally {
        method.dispose();
      }
    }
  });
});

describe("fedpft's client model", () => {
  it('compressed layers keep keep * ff FFN neurons (the most salient, in order); retained layers are whole', async () => {
    // fedpft-n: no distillation, so the sub-FM is the compressed FM itself.
    const { method, setup } = await setUp(METHOD_YAML.fedpft('fedpft-n'));
    try {
      const spec = setup.clientModel;
      const kept = Math.round(KEEP * FF);
      const widths = Array.from({ length: L }, (_, l) => (COMPRESSED.includes(l) ? kept : FF));
      expect(spec.config.intermediateSizes).toEqual(widths);
      expect(setup.info['ffnWidths']).toEqual(COMPRESSED.map(() => kept));
      const byName = new Map(spec.tensors.map((t) => [t.name, t]));
      for (let l = 0; l < L; l++) {
        const p = `vit.encoder.layer.${l}`;
        expect(byName.get(`${p}.intermediate.dense.weight`)?.shape).toEqual([D, widths[l]]);
        expect(byName.get(`${p}.intermediate.dense.bias`)?.shape).toEqual([widths[l]]);
        expect(byName.get(`${p}.output.dense.weight`)?.shape).toEqual([widths[l], D]);
        expect(byName.get(`${p}.output.dense.bias`)?.shape).toEqual([D]);
      }
      // The kept neurons by hand: saliency sqrt(|W1[:, i]|^2 + |W2[i, :]|^2), top `kept`, ascending.
      for (const l of COMPRESSED) {
        const p = `vit.encoder.layer.${l}`;
        const w1 = (reference.get(`${p}.intermediate.dense.weight`) as { data: Float32Array }).data;
        const w2 = (reference.get(`${p}.output.dense.weight`) as { data: Float32Array }).data;
        const b1 = (reference.get(`${p}.intermediate.dense.bias`) as { data: Float32Array }).data;
        const sal = Array.from({ length: FF }, (_, i) => {
          let s = 0;
          for (let j = 0; j < D; j++) s += (w1[j * FF + i] as number) ** 2 + (w2[i * D + j] as number) ** 2;
          return Math.sqrt(s);
        });
        const top = Array.from({ length: FF }, (_, i) => i)
          .sort((a, b) => (sal[b] as number) - (sal[a] as number) || a - b)
          .slice(0, kept)
          .sort((a, b) => a - b);
        const w1c = Float32Array.from({ length: D * kept }, (_, k) => w1[Math.floor(k / kept) * FF + (top[k % kept] as number)] as number);
        const w2c = Float32Array.from({ length: kept * D }, (_, k) => w2[(top[Math.floor(k / D)] as number) * D + (k % D)] as number);
        expect(sameBits(byName.get(`${p}.intermediate.dense.weight`)?.data as Float32Array, w1c)).toBe(true);
        expect(sameBits(byName.get(`${p}.output.dense.weight`)?.data as Float32Array, w2c)).toBe(true);
        expect(sameBits(byName.get(`${p}.intermediate.dense.bias`)?.data as Float32Array, Float32Array.from(top, (i) => b1[i] as number))).toBe(true);
      }
      // Everything else the FM has is copied as is.
      const sliced = new Set(COMPRESSED.flatMap((l) => ['intermediate.dense.weight', 'intermediate.dense.bias', 'output.dense.weight'].map((t) => `vit.encoder.layer.${l}.${t}`)));
      for (const [name, ref] of reference) {
        if (name.startsWith('classifier.') || sliced.has(name)) continue;
        expect(sameBits(byName.get(name)?.data as Float32Array, ref.data), name).toBe(true);
      }
    } finally {
      method.dispose();
    }
  });

  it('a realignment patches exactly the p share of neurons with the highest APoZ, plus b2; ViT\'s layernorm_after stays frozen', async () => {
    const { method, setup } = await setUp(METHOD_YAML.fedpft('fedpft-d'));
    try {
      const reports = fakeApoz(setup);
      const result = await (method.afterAggregate as AfterAggregate)(fakeRound(INTERVAL, setup.initial, reports));
      const patches = result.frozenUpdate ?? [];
      const s = Math.round(P * Math.round(KEEP * FF));
      expect(result.record?.['updatedNeurons']).toEqual(COMPRESSED.map(() => s));
      expect(result.probeBytesUp).toBe(reports.length * 4 * (COMPRESSED.length * Math.round(KEEP * FF) + 1));
      expect(patchBytes(patches)).toBe(4 * COMPRESSED.length * (D * s + s + s + s + s * D + s + D));
      const byName = new Map(setup.clientModel.tensors.map((t) => [t.name, t]));
      const exported = new Map(((await method.exportState?.()) ?? []).map((t) => [t.name, t.data]));
      for (const [k, l] of COMPRESSED.entries()) {
        const w = Math.round(KEEP * FF);
        const pooled = Array.from({ length: w }, (_, i) => reports.reduce((sum, r) => sum + (r.zeros[k]?.[i] as number), 0));
        const highest = Array.from({ length: w }, (_, i) => i)
          .sort((a, b) => (pooled[b] as number) - (pooled[a] as number))
          .slice(0, s)
          .sort((a, b) => a - b);
        const p = `vit.encoder.layer.${l}`;
        // [tensor, neuron axis]: W1 [D, w] by columns, b1 [w], W2 [w, D] by rows.
        const neuronOf: [string, (k: number) => number, number][] = [
          [`${p}.intermediate.dense.weight`, (k) => k % w, D * s],
          [`${p}.intermediate.dense.bias`, (k) => k, s],
          [`${p}.output.dense.weight`, (k) => Math.floor(k / D), s * D],
        ];
        for (const [name, neuron, size] of neuronOf) {
          const patch = patches.find((x) => x.name === name);
          expect(patch?.indices, name).toEqual(highest);
          expect(patch?.data.length, name).toBe(size);
          // The server's realigned tensor differs from the client's only in the selected neurons.
          const before = (byName.get(name) as { data: Float32Array }).data;
          const after = exported.get(name) as Float32Array;
          const carried: number[] = [];
          for (let k = 0; k < before.length; k++) {
            if (highest.includes(neuron(k))) carried.push(after[k] as number);
            else expect(Object.is(after[k], before[k]), `${name}[${k}] changed`).toBe(true);
          }
          // Alignment did move the selected neurons.
          const old = patchedBefore(before, neuron, highest);
          expect(carried.some((v, i) => !Object.is(v, old[i])), `${name} unchanged`).toBe(true);
          // The patch carries the realigned values of those neurons (W1: row-major [D, s]).
          expect(sameBits(patch?.data as Float32Array, Float32Array.from(carried)), name).toBe(true);
        }
        const b2 = patches.find((x) => x.name === `${p}.output.dense.bias`);
        expect(b2?.axis).toBe('all');
        expect(sameBits(b2?.data as Float32Array, exported.get(`${p}.output.dense.bias`) as Float32Array)).toBe(true);
        // The reference code freezes ViT's LayerNorms in both distillation steps (ffnLayerNorm: auto).
        for (const name of [`${p}.layernorm_after.weight`, `${p}.layernorm_after.bias`]) {
          expect(patches.some((x) => x.name === name), name).toBe(false);
          expect(exported.has(name), name).toBe(false);
        }
      }
      expect(patches.length).toBe(4 * COMPRESSED.length);
      expect(setup.info['ffnLayerNormTrains']).toBe(false);
    } finally {
      method.dispose();
    }
  });
});

describe('fedpft ffnLayerNorm: train', () => {
  it("patches ViT's layernorm_after with b2 when the scenario asks for it", async () => {
    const { method, setup } = await setUp(`${METHOD_YAML.fedpft('fedpft-d')}\nffnLayerNorm: train`);
    try {
      expect(setup.info['ffnLayerNormTrains']).toBe(true);
      const result = await (method.afterAggregate as AfterAggregate)(fakeRound(INTERVAL, setup.initial, fakeApoz(setup)));
      const names = (result.frozenUpdate ?? []).map((x) => x.name);
      for (const l of COMPRESSED) for (const t of ['weight', 'bias']) expect(names).toContain(`vit.encoder.layer.${l}.layernorm_after.${t}`);
      expect(names).toHaveLength(6 * COMPRESSED.length);
    } finally {
      method.dispose();
    }
  });
});

describe('fedpft variants: which distillation runs', () => {
  const cases = [
    { name: 'fedpft', before: true, during: true },
    { name: 'fedpft-n', before: false, during: false },
    { name: 'fedpft-b', before: true, during: false },
    { name: 'fedpft-d', before: false, during: true },
  ];
  const made: Method[] = [];
  afterAll(() => {
    for (const m of made) m.dispose();
  });

  for (const c of cases) {
    it(`${c.name}: distils before FL ${c.before ? 'yes' : 'no'}, probes and realigns during FL ${c.during ? 'yes' : 'no'}`, async () => {
      const { method, setup } = await setUp(METHOD_YAML.fedpft(c.name));
      made.push(method);
      expect('distillBefore' in setup.info).toBe(c.before);
      if (c.before) expect((setup.info['distillBefore'] as { steps: number }).steps).toBe(5);
      // Clients are asked for APoZ counts, and the server realigns, only in alignment rounds of D variants.
      for (const round of [1, INTERVAL + 1]) {
        expect((await method.beforeRound?.(round))?.probe ?? null).toBeNull();
        await expect((method.afterAggregate as AfterAggregate)(fakeRound(round, setup.initial, fakeApoz(setup)))).resolves.toEqual({});
      }
      for (const round of [INTERVAL, 2 * INTERVAL]) {
        const probe = (await method.beforeRound?.(round))?.probe ?? null;
        const after = await (method.afterAggregate as AfterAggregate)(fakeRound(round, setup.initial, fakeApoz(setup)));
        if (c.during) {
          expect(probe).toEqual({ kind: 'apoz', payload: { layers: COMPRESSED, eps: 0.01, maxExamples: 16 } });
          expect(after.frozenUpdate?.length).toBe(4 * COMPRESSED.length);
        } else {
          expect(probe).toBeNull();
          expect(after).toEqual({});
        }
      }
    });
  }
});
