import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import type { Params } from '../src/model/params.js';
import { initLoraParams, initVitParams, vitForward, vitParamShapes, type VitConfig } from '../src/model/vit.js';
import {
  buildEmulator,
  emulatorLayerMap,
  layerDropIndices,
  layerOf,
  renameLayerName,
  renameLayers,
  roundHalfEven,
  toEmulatorLayers,
  toOriginalLayers,
} from '../src/proxy/layer-drop.js';
import { initBackend } from '../src/tensor/backend.js';
import { Rng } from '../src/util/rng.js';
import { randomWeights, tinyVit, toParams } from './helpers/kit.js';
import { expectClose, maxAbsDiff, randomUniform } from './helpers/numeric.js';

/** 12 layers like the paper's FM, tiny otherwise. */
const FM: VitConfig = tinyVit({ hiddenSize: 8, numHiddenLayers: 12, intermediateSize: 16, imageSize: 4, patchSize: 2, numLabels: 3 });
const PIXELS = FM.numChannels * FM.imageSize * FM.imageSize;
const BATCH = 3;

/** Random weights large enough that every layer changes the logits (HF's 0.02 init would not). */
function randomParams(cfg: VitConfig, rng: Rng): Params {
  return toParams(randomWeights(vitParamShapes(cfg), rng, { weight: 'fan-in', bias: 0.2, layerNorm: 0.2 }));
}

function logits(cfg: VitConfig, params: Params, images: Float32Array): Float32Array {
  const t = tf.tidy(() => vitForward(cfg, params, tf.tensor2d(images, [BATCH, PIXELS])));
  const out = Float32Array.from(t.dataSync());
  t.dispose();
  return out;
}

function dispose(params: Params): void {
  for (const t of params.values()) t.dispose();
}

beforeAll(async () => {
  await initBackend('wasm', 'exact');
});

describe('layerDropIndices', () => {
  it("the paper's 8 middle -> 3 kept gives [0, 4, 7] (stride 3.5, round(3.5) = 4)", () => {
    expect(layerDropIndices(8, 3)).toEqual([0, 4, 7]);
  });

  it("rounds halves to even like the reference's Python round()", () => {
    // Python: [round(i * 2.5) for i in range(3)] == [0, 2, 5]; Math.round would give [0, 3, 5].
    expect(layerDropIndices(6, 3)).toEqual([0, 2, 5]);
    // Python: [round(i * 1.5) for i in range(5)] == [0, 2, 3, 4, 6]
    expect(layerDropIndices(7, 5)).toEqual([0, 2, 3, 4, 6]);
    expect([0.5, 1.5, 2.5, 3.5, -0.5, 2.4999, 2.5001].map(roundHalfEven)).toEqual([0, 2, 2, 4, 0, 2, 3]);
  });

  it('edge cases: all layers, one layer, none; k > m is an error', () => {
    expect(layerDropIndices(8, 8)).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
    expect(layerDropIndices(8, 2)).toEqual([0, 7]);
    expect(layerDropIndices(8, 1)).toEqual([0]);
    expect(layerDropIndices(8, 0)).toEqual([]);
    expect(() => layerDropIndices(3, 4)).toThrow(RangeError);
    expect(() => layerDropIndices(3, 1.5)).toThrow(RangeError);
  });

  it('every choice is ascending, distinct, starts at 0 and ends at m - 1 (k >= 2)', () => {
    for (let m = 2; m <= 24; m++) {
      for (let k = 2; k <= m; k++) {
        const idx = layerDropIndices(m, k);
        expect(idx.length).toBe(k);
        expect(idx[0]).toBe(0);
        expect(idx[k - 1]).toBe(m - 1);
        for (let i = 1; i < k; i++) expect(idx[i] as number).toBeGreaterThan(idx[i - 1] as number);
      }
    }
  });
});

describe('buildEmulator (12 layers, a = 2, k = 3)', () => {
  it('layerMap = [0, 1, 2 + [0, 4, 7], 10, 11]; adapters [0, 1, 10, 11]', () => {
    const { layerMap, adapterLayers } = emulatorLayerMap(12, { adapterLayers: 2, emulatorLayers: 3 });
    expect(layerMap).toEqual([0, 1, 2, 6, 9, 10, 11]);
    expect(adapterLayers).toEqual([0, 1, 10, 11]);
    expect(() => emulatorLayerMap(12, { adapterLayers: 7, emulatorLayers: 0 })).toThrow(RangeError);
    expect(() => emulatorLayerMap(12, { adapterLayers: 2, emulatorLayers: 9 })).toThrow(RangeError);
  });

  it('renumbers the kept layers, copies the rest, and its forward equals the FM with the dropped layers made identities', () => {
    const rng = new Rng('emulator');
    const fm = randomParams(FM, rng);
    const emu = buildEmulator(FM, fm, { adapterLayers: 2, emulatorLayers: 3 });
    expect(emu.cfg).toEqual({ ...FM, numHiddenLayers: 7 });
    expect(emu.layerMap).toEqual([0, 1, 2, 6, 9, 10, 11]);
    expect(emu.adapterLayers).toEqual([0, 1, 10, 11]);

    const shapes = vitParamShapes(emu.cfg as VitConfig);
    expect([...emu.params.keys()].sort()).toEqual([...shapes.keys()].sort());
    for (const [name, t] of emu.params) {
      const l = layerOf(name);
      const source = l === null ? name : name.replace(`vit.encoder.layer.${l}.`, `vit.encoder.layer.${emu.layerMap[l]}.`);
      const orig = fm.get(source) as tf.Tensor;
      expect(t, name).not.toBe(orig);
      expect(t.dataSync(), `${name} <- ${source}`).toEqual(orig.dataSync());
    }

    // Independent check: in the FM, zero the attention and FFN output projections of the
    // dropped layers, so those layers pass their input through; that model is the emulator.
    const dropped = new Set([3, 4, 5, 7, 8]);
    const passThrough: Params = new Map();
    for (const [name, t] of fm) {
      const l = layerOf(name);
      const zero = l !== null && dropped.has(l) && /\.(attention\.output|output)\.dense\.(weight|bias)$/.test(name);
      passThrough.set(name, zero ? tf.zerosLike(t) : t);
    }
    const images = randomUniform(rng, BATCH * PIXELS);
    const before = tf.memory().numTensors;
    const emuLogits = logits(emu.cfg as VitConfig, emu.params, images);
    expect(tf.memory().numTensors).toBe(before);
    expect(emuLogits.length).toBe(BATCH * FM.numLabels);
    expectClose(emuLogits, logits(FM, passThrough, images), 1e-5, 'emulator vs pass-through FM');
    expect(maxAbsDiff(emuLogits, logits(FM, fm, images))).toBeGreaterThan(1e-2);

    for (const [name, t] of passThrough) if (t !== fm.get(name)) t.dispose();
    dispose(emu.params);
    for (const t of fm.values()) expect(t.isDisposed).toBe(false);
    dispose(fm);
  });

  it('keeps per-layer FFN widths of a compressed model with its layers', () => {
    const cfg: VitConfig = { ...FM, numHiddenLayers: 6, intermediateSizes: [16, 8, 9, 10, 11, 16] };
    const params = initVitParams(cfg, new Rng('emu-widths'));
    const emu = buildEmulator(cfg, params, { adapterLayers: 1, emulatorLayers: 2 });
    expect(emu.layerMap).toEqual([0, 1, 4, 5]);
    expect(emu.cfg.intermediateSizes).toEqual([16, 8, 11, 16]);
    expect(emu.params.get('vit.encoder.layer.2.intermediate.dense.weight')?.shape).toEqual([8, 11]);
    dispose(emu.params);
    dispose(params);
  });
});

describe('renaming for the FedOT plug-in', () => {
  it('adapter LoRA trained on emulator layer j goes to FM layer layerMap[j], and back', () => {
    const { layerMap } = emulatorLayerMap(12, { adapterLayers: 2, emulatorLayers: 3 });
    const emuCfg: VitConfig = { ...FM, numHiddenLayers: layerMap.length };
    const lora = initLoraParams(emuCfg, 2, new Rng('rename'));
    lora.set('classifier.weight', tf.zeros([FM.hiddenSize, FM.numLabels]));

    const onFm = toOriginalLayers(lora, layerMap);
    expect(onFm.size).toBe(lora.size);
    for (const [name, t] of lora) {
      const l = layerOf(name);
      const target = l === null ? name : `vit.encoder.layer.${layerMap[l]}.${name.slice(`vit.encoder.layer.${l}.`.length)}`;
      expect(onFm.get(target), `${name} -> ${target}`).toBe(t);
    }
    expect(onFm.has('vit.encoder.layer.11.attention.attention.query.lora_A.weight')).toBe(true);
    expect(onFm.has('vit.encoder.layer.6.attention.output.dense.lora_B.weight')).toBe(true);
    expect(onFm.has('vit.encoder.layer.3.attention.attention.query.lora_A.weight')).toBe(false);

    const back = toEmulatorLayers(onFm, layerMap);
    expect([...back.keys()].sort()).toEqual([...lora.keys()].sort());
    for (const [name, t] of lora) expect(back.get(name)).toBe(t);

    // FM-numbered tensors of the dropped layers do not reach the emulator.
    const fmLora = initLoraParams(FM, 2, new Rng('rename-fm'));
    const toEmu = toEmulatorLayers(fmLora, layerMap);
    expect(toEmu.size).toBe(layerMap.length * 8);
    expect(toEmu.get('vit.encoder.layer.3.attention.attention.key.lora_B.weight')).toBe(fmLora.get('vit.encoder.layer.6.attention.attention.key.lora_B.weight'));

    dispose(lora);
    dispose(fmLora);
  });

  it('helpers: layerOf, renameLayerName, unmapped and colliding layers', () => {
    expect(layerOf('vit.encoder.layer.10.output.dense.bias')).toBe(10);
    expect(layerOf('vit.layernorm.weight')).toBeNull();
    expect(layerOf('classifier.bias')).toBeNull();
    expect(renameLayerName('vit.encoder.layer.10.output.dense.bias', 3)).toBe('vit.encoder.layer.3.output.dense.bias');
    expect(renameLayerName('vit.embeddings.cls_token', 3)).toBe('vit.embeddings.cls_token');
    const m = new Map([
      ['vit.encoder.layer.1.x', 1],
      ['vit.encoder.layer.2.x', 2],
    ]);
    expect(() => renameLayers(m, new Map([[1, 0]]))).toThrow(/no mapping/);
    expect([...renameLayers(m, new Map([[1, 0]]), { dropUnmapped: true })]).toEqual([['vit.encoder.layer.0.x', 1]]);
    expect(() =>
      renameLayers(
        m,
        new Map([
          [1, 0],
          [2, 0],
        ]),
      ),
    ).toThrow(/two parameters/);
  });
});
