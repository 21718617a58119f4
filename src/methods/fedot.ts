import * as tf from '@tensorflow/tfjs-core';
import type { LabelledExamples } from '../data/dataset.js';
import { countParams, disposeParams, flattenParams } from '../model/params.js';
import type { EvalResult } from '../model/train.js';
import { forwardMacs } from '../model/encoder.js';
import type { LoraOptions } from '../model/layers.js';
import { distill } from '../proxy/distill.js';
import { buildEmulator, layerOf, renameLayerName } from '../proxy/layer-drop.js';
import { int, oneOf } from '../scenario/fields.js';
import { distillSchema, headSchema, loraSchema } from '../scenario/schema.js';
import { UserError } from '../util/errors.js';
import { stream } from '../util/rng.js';
import { distillDataFor, distillFacts, distillRunOptions } from './distill-data.js';
import { FullModel } from './full-model.js';
import { headFacts, toNamedArrays, trainableNames, withLoraAndHead } from './lora-setup.js';
import type { Method, MethodContext, MethodSetup } from './method.js';
import { defineMethod, type OptionsOf } from './define.js';

const options = {
  lora: loraSchema,
  head: headSchema,
  adapterLayers: int(1).default(1).describe('a: bottom and top layers that clients train (paper on 12 layers: 2)'),
  emulatorLayers: int(1).default(2).describe('middle layers kept by uniform layer-drop (paper: 8 -> 3)'),
  distill: distillSchema,
  distillObjective: oneOf(['emulator-output', 'layers'])
    .default('emulator-output')
    .describe("emulator-output: match the emulator's output with the FM's middle block's (Offsite-Tuning); layers: match every layer from the emulator up with its FM twin"),
};

type FedotConfig = OptionsOf<typeof options>;

/**
 * FedOT (Offsite-Tuning in FL, METHOD.md): clients hold the bottom and top `a` layers
 * (adapters) around an emulator, the middle layers thinned by uniform layer-drop and distilled
 * toward the FM before FL. Clients train LoRA on the adapters plus the head; the LoRA rank is
 * scaled by L / 2a so the trainable count matches FedPETuning's. Plug-in: the adapters' LoRA
 * goes back to its original layers of the full FM, whose middle layers are the FM's own.
 */
function fedOT(config: FedotConfig): Method {
  let full: FullModel | null = null;
  let validation: LabelledExamples | null = null;
  /** Position in the client's global vector of each full-model trainable value, in full-model order. */
  let toFullOrder: Int32Array | null = null;

  return {
    name: 'fedot',

    async setup(ctx: MethodContext): Promise<MethodSetup> {
      const L = ctx.fm.cfg.numHiddenLayers;
      const a = config.adapterLayers;
      if (2 * a + config.emulatorLayers > L || 2 * a >= L) {
        throw new UserError('scenario', 'method.adapterLayers', `2 x adapterLayers (${2 * a}) + emulatorLayers (${config.emulatorLayers}) must fit in the FM's ${L} layers with a middle left to emulate`);
      }
      if (config.emulatorLayers > L - 2 * a) throw new UserError('scenario', 'method.emulatorLayers', `at most ${L - 2 * a} for this FM`);
      const rank = Math.round((config.lora.rank * L) / (2 * a));
      const lora: LoraOptions = { rank, alpha: (config.lora.alpha * rank) / config.lora.rank, dropout: config.lora.dropout };
      const fm = withLoraAndHead(ctx.fm.params, ctx.fm.cfg, ctx.data.train.numClasses, lora, ctx.scenario.seed, config.head);
      const adapterSet = new Set([...Array(a).keys(), ...Array.from({ length: a }, (_, i) => L - a + i)]);
      for (const [name, t] of [...fm.params]) {
        const layer = layerOf(name);
        if (name.includes('.lora_') && layer !== null && !adapterSet.has(layer)) {
          t.dispose();
          fm.params.delete(name);
        }
      }
      const emu = buildEmulator(fm.cfg, fm.params, { adapterLayers: a, emulatorLayers: config.emulatorLayers });
      const info: Record<string, unknown> = {
        layerMap: emu.layerMap,
        adapterLayers: emu.adapterLayers,
        adapterLoraRank: rank,
        fmParams: countParams(fm.params, [...fm.params.keys()]),
        clientModelParams: countParams(emu.params, [...emu.params.keys()]),
        head: headFacts(config.head, fm.exchanged),
        trainableParams: countParams(emu.params, trainableNames(emu.params, fm.exchanged)),
        clientForwardMacsPerExample: forwardMacs(emu.cfg, ctx.data.train.featureSize, rank),
        fmForwardMacsPerExample: forwardMacs(fm.cfg, ctx.data.train.featureSize, rank),
      };
      if (config.distill.steps > 0) {
        const d = distillDataFor(config.distill, ctx);
        const emulated = Array.from({ length: config.emulatorLayers }, (_, i) => a + i);
        const trainable = [...emu.params.keys()].filter((n) => emulated.includes(layerOf(n) ?? -1) && !n.includes('.lora_')).sort();
        // Offsite-Tuning matches the emulator's output with the FM's middle block's (the bottom
        // adapters are the FM's own, so both see the same input); `layers` matches every layer
        // from the emulator up with its FM twin.
        const lastEmulated = a + config.emulatorLayers - 1;
        const compared = config.distillObjective === 'emulator-output' ? [lastEmulated] : Array.from({ length: emu.cfg.numHiddenLayers - a }, (_, i) => a + i);
        const teacherLayerOf = (j: number): number => (j === lastEmulated && config.distillObjective === 'emulator-output' ? L - a - 1 : (emu.layerMap[j] as number));
        const t0 = performance.now();
        const { losses } = await distill(fm, emu, { features: d.features, featureSize: d.featureSize, n: d.n }, {
          ...distillRunOptions(config.distill),
          mu: 0,
          weightDecay: config.distill.weightDecay,
          seed: stream(ctx.scenario.seed, 'distill-before').seed(),
          layers: compared,
          trainable,
          teacherLayerOf,
        });
        info['distillBefore'] = { objective: config.distillObjective, ...distillFacts(config.distill), steps: losses.length, firstLoss: losses[0], lastLoss: losses[losses.length - 1], seconds: (performance.now() - t0) / 1000 };
        ctx.log(`fedot: distilled the emulator for ${losses.length} steps, loss ${losses[0]?.toFixed(4)} -> ${losses[losses.length - 1]?.toFixed(4)}`);
      }
      const clientTrainable = trainableNames(emu.params, fm.exchanged);
      const spec = { config: emu.cfg, tensors: await toNamedArrays(emu.params), trainable: clientTrainable, lora };
      const initial = await flattenParams(emu.params, clientTrainable);
      // Plug-in by name: emulator layer j's adapter tensors are the FM's layer layerMap[j].
      const offsets = new Map<string, { offset: number; size: number }>();
      let offset = 0;
      for (const name of clientTrainable) {
        const size = (emu.params.get(name) as tf.Tensor).size;
        const layer = layerOf(name);
        offsets.set(layer === null ? name : renameLayerName(name, emu.layerMap[layer] as number), { offset, size });
        offset += size;
      }
      const fullTrainable = [...offsets.keys()].sort();
      const order = new Int32Array(offset);
      let k = 0;
      for (const name of fullTrainable) {
        const { offset: o, size } = offsets.get(name) as { offset: number; size: number };
        for (let i = 0; i < size; i++) order[k++] = o + i;
      }
      toFullOrder = order;
      full = await FullModel.create(fm.cfg, fm.params, fullTrainable, lora);
      validation = ctx.data.validation;
      disposeParams(fm.params);
      disposeParams(emu.params);
      ctx.log(`fedot: emulator keeps layers ${emu.layerMap.join(',')} of ${L} (adapters ${emu.adapterLayers.join(',')}), adapter LoRA rank ${rank}`);
      return { clientModel: spec, initial, info };
    },

    evaluate(global: Float32Array): Promise<EvalResult> {
      if (!full || !validation || !toFullOrder) throw new Error('fedot: setup() has not run');
      const order = toFullOrder;
      return full.evaluate(Float32Array.from(order, (i) => global[i] as number), validation);
    },

    dispose(): void {
      full?.dispose();
      full = null;
    },
  };
}

export default defineMethod({
  name: 'fedot',
  description: 'Offsite-Tuning in FL: clients train adapters around a layer-dropped, distilled emulator',
  options,
  server: fedOT,
});
