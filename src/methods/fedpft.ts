import { ClientModel } from '../client/client-model.js';
import { extractPatch, type FrozenPatch } from '../client/frozen-patch.js';
import type { LabelledExamples } from '../data/dataset.js';
import { countParams, disposeParams, flattenParams } from '../model/params.js';
import type { NamedArray } from '../model/safetensors.js';
import type { EvalResult } from '../model/train.js';
import { encoderFfnWidth as ffnWidth, forwardMacs } from '../model/encoder.js';
import { pooledApoz, selectUpdatedNeurons, type ZeroCounts } from '../proxy/apoz.js';
import { compressedLayers, compressFm } from '../proxy/compress.js';
import { distill, distillTrainableNames, ffnTensorNames, trainsFfnLayerNorm, type DistillModel } from '../proxy/distill.js';
import { int, oneOf } from '../scenario/fields.js';
import { alignSchema, distillSchema, fraction, headSchema, loraSchema } from '../scenario/schema.js';
import { z } from 'zod';
import { readFloats } from '../tensor/read.js';
import { stream } from '../util/rng.js';
import { distillDataFor, distillFacts, distillRunOptions } from './distill-data.js';
import { FullModel } from './full-model.js';
import { headFacts, toNamedArrays, trainableNames, withLoraAndHead } from './lora-setup.js';
import type { AggregatedRound, Method, MethodContext, MethodSetup, RoundHookResult, RoundRequest } from './method.js';
import { apozProbe, type ApozPayload, type ApozReport } from '../client/apoz-probe.js';
import { defineMethod, type MethodDefinition, type OptionsOf } from './define.js';

/** FedPFT and its ablations share one shape; the variant decides which distillation steps run. */
const options = {
  lora: loraSchema,
  head: headSchema,
  ffnLayerNorm: oneOf(['auto', 'train', 'frozen'])
    .default('auto')
    .describe("whether distillation and alignment train the FFN's LayerNorm; auto: the reference code's (BERT's trains, ViT's layernorm_after stays frozen)"),
  keep: z
    .number({ error: 'expected a fraction in (0, 1] or a neuron count > 1' })
    .gt(0, { error: 'expected a fraction in (0, 1] or a neuron count > 1' })
    .default(0.25)
    .describe("FFN neurons kept per compressed layer: a fraction, or a count when > 1 (paper: d'_ff = d_model)"),
  retained: z.array(int(0)).optional().describe('layers kept whole; default: the first and the last'),
  distill: distillSchema,
  interval: int(1).default(10).describe('t: align every t rounds (paper: 10)'),
  proportion: fraction('a proportion').default(0.5).describe('p: share of neurons (highest APoZ) updated per alignment'),
  align: alignSchema,
};

type FedpftConfig = OptionsOf<typeof options>;

/** Which distillation steps a variant runs (METHOD.md, ablations). */
interface Variant {
  before: boolean;
  during: boolean;
}

/** The reference code's alignment runs AdamW without weight decay. */
const ALIGN_WEIGHT_DECAY = 0;

/**
 * FedPFT (METHOD.md): clients fine-tune LoRA + head on a sub-FM whose FFNs keep the most
 * salient neurons; the sub-FM is distilled toward the FM before FL and, every `interval`
 * rounds, its least-active neurons (highest APoZ on the clients' data) are realigned with the
 * aggregated LoRA plugged into both models. Evaluation plugs LoRA + head into the full FM.
 */
function fedPFT(config: FedpftConfig, variant: Variant): Method {
  let full: FullModel | null = null;
  let sub: ClientModel | null = null;
  let layers: number[] = [];
  let validation: LabelledExamples | null = null;
  let distillData: { features: Float32Array; featureSize: number; n: number } | null = null;
  let seed = 0;
  let trainLn = false;

  const must = <T>(x: T | null): T => {
    if (x === null) throw new Error(`${config.name}: setup() has not run`);
    return x;
  };

  return {
    name: config.name,

    async setup(ctx: MethodContext): Promise<MethodSetup> {
      seed = ctx.scenario.seed;
      const fm = withLoraAndHead(ctx.fm.params, ctx.fm.cfg, ctx.data.train.numClasses, config.lora, seed, config.head);
      const trainable = trainableNames(fm.params, fm.exchanged);
      const compressed = await compressFm(fm.cfg, fm.params, { keep: config.keep, retained: config.retained });
      layers = compressedLayers(fm.cfg, config.retained);
      trainLn = trainsFfnLayerNorm(fm.cfg, config.ffnLayerNorm);
      const info: Record<string, unknown> = {
        variant,
        head: headFacts(config.head, fm.exchanged),
        ffnLayerNormTrains: trainLn,
        compressedLayers: layers,
        ffnWidths: layers.map((l) => ffnWidth(compressed.cfg, l)),
        fmParams: countParams(fm.params, [...fm.params.keys()]),
        clientModelParams: countParams(compressed.params, [...compressed.params.keys()]),
        trainableParams: countParams(compressed.params, trainable),
        clientForwardMacsPerExample: forwardMacs(compressed.cfg, ctx.data.train.featureSize, config.lora.rank),
        fmForwardMacsPerExample: forwardMacs(fm.cfg, ctx.data.train.featureSize, config.lora.rank),
        ...(variant.during ? { apozCriterion: apozCriterion(config.align.apozEps), apozExamples: config.align.probeExamples ?? 'all', align: distillFacts(config.align) } : {}),
      };
      if (variant.before || variant.during) {
        const d = distillDataFor(config.distill, ctx);
        distillData = { features: d.features, featureSize: d.featureSize, n: d.n };
      }
      if (variant.before && config.distill.steps > 0) {
        const t0 = performance.now();
        const { losses } = await distill(fm, compressed, must(distillData), {
          ...distillRunOptions(config.distill),
          mu: config.distill.mu,
          weightDecay: config.distill.weightDecay,
          seed: stream(seed, 'distill-before').seed(),
          layers,
          trainable: distillTrainableNames(fm.cfg, layers, trainLn),
        });
        info['distillBefore'] = { ...distillFacts(config.distill), steps: losses.length, firstLoss: losses[0], lastLoss: losses[losses.length - 1], seconds: (performance.now() - t0) / 1000 };
        ctx.log(`${config.name}: distilled the sub-FM for ${losses.length} steps, loss ${losses[0]?.toFixed(4)} -> ${losses[losses.length - 1]?.toFixed(4)}`);
      }
      const spec = { config: compressed.cfg, tensors: await toNamedArrays(compressed.params), trainable, lora: config.lora };
      const initial = await flattenParams(compressed.params, trainable);
      full = await FullModel.create(fm.cfg, fm.params, trainable, config.lora);
      sub = new ClientModel(spec);
      validation = ctx.data.validation;
      disposeParams(fm.params);
      disposeParams(compressed.params);
      return { clientModel: spec, initial, info };
    },

    beforeRound(round: number): Promise<RoundRequest> {
      if (!variant.during || round % config.interval !== 0) return Promise.resolve({});
      const payload: ApozPayload = { layers, eps: config.align.apozEps, maxExamples: config.align.probeExamples ?? null };
      return Promise.resolve({ probe: { kind: 'apoz', payload } });
    },

    async afterAggregate(ctx: AggregatedRound): Promise<RoundHookResult> {
      if (!variant.during || ctx.round % config.interval !== 0) return {};
      const reports = ctx.reports as ApozReport[];
      const probeBytesUp = reports.reduce((s, r) => s + r.zeros.reduce((b, z) => b + z.byteLength, 0) + 4, 0);
      if (reports.length === 0) return { record: { aligned: false, reason: 'no client update was aggregated' } };
      const counts: ZeroCounts[] = reports.map((r) => ({ positions: r.positions, zeros: new Map(r.layers.map((l, i) => [l, Float64Array.from(r.zeros[i] as Int32Array)])) }));
      const apoz = pooledApoz(counts);
      const mask = new Map<number, number[]>();
      for (const l of layers) mask.set(l, selectUpdatedNeurons(apoz.get(l) as Float64Array, config.proportion, stream(seed, 'align-ties', ctx.round, l)));
      // Round r's aggregated LoRA goes into both models; round r + 1 trains on the result.
      const teacher = must(full);
      const student = must(sub);
      teacher.plugIn(ctx.global);
      student.setTrainable(ctx.global);
      const t0 = performance.now();
      const { losses } = await distill({ cfg: teacher.model.spec.config, params: teacher.model.params }, { cfg: student.spec.config, params: student.params }, must(distillData), {
        ...distillRunOptions(config.align),
        mu: config.distill.mu,
        weightDecay: ALIGN_WEIGHT_DECAY,
        seed: stream(seed, 'align', ctx.round).seed(),
        layers,
        trainable: distillTrainableNames(student.spec.config, layers, trainLn),
        neuronMask: mask,
        lora: config.lora,
      });
      const patches = await alignmentPatches({ cfg: student.spec.config, params: student.params }, layers, mask, trainLn);
      const tied = layers.filter((l) => allEqual(apoz.get(l) as Float64Array));
      return {
        frozenUpdate: patches,
        probeBytesUp,
        record: {
          aligned: true,
          apozClients: reports.length,
          meanApoz: layers.map((l) => mean(apoz.get(l) as Float64Array)),
          // Every neuron's APoZ equal: the selection was the seeded shuffle alone.
          ...(tied.length > 0 ? { apozAllTied: tied } : {}),
          updatedNeurons: layers.map((l) => (mask.get(l) as number[]).length),
          alignLoss: [losses[0], losses[losses.length - 1]],
          alignSeconds: (performance.now() - t0) / 1000,
        },
      };
    },

    async exportState(): Promise<NamedArray[]> {
      const { params, spec } = must(sub);
      const out: NamedArray[] = [];
      for (const name of distillTrainableNames(spec.config, layers, trainLn)) {
        const t = params.get(name);
        if (!t) throw new Error(`missing ${name}`);
        out.push({ name, shape: t.shape, data: await readFloats(t) });
      }
      return out;
    },

    async importState(tensors: NamedArray[]): Promise<FrozenPatch[]> {
      const patches: FrozenPatch[] = tensors.map((t) => ({ name: t.name, axis: 'all', indices: null, data: t.data }));
      await must(sub).updateFrozen(patches);
      return patches;
    },

    evaluate(global: Float32Array): Promise<EvalResult> {
      return must(full).evaluate(global, must(validation));
    },

    dispose(): void {
      full?.dispose();
      sub?.dispose();
      full = null;
      sub = null;
    },
  };
}

/** The realigned neurons' W1' columns, b1' entries and W2' rows, plus b2' and (when it trains) the FFN LayerNorm. */
async function alignmentPatches(student: DistillModel, layers: readonly number[], mask: ReadonlyMap<number, number[]>, layerNorm: boolean): Promise<FrozenPatch[]> {
  const { params, cfg } = student;
  const patches: FrozenPatch[] = [];
  const read = async (name: string) => {
    const t = params.get(name);
    if (!t) throw new Error(`missing ${name}`);
    return { data: await readFloats(t), shape: t.shape };
  };
  for (const l of layers) {
    const n = ffnTensorNames(cfg, l);
    const sel = mask.get(l) as number[];
    const w1 = await read(n.w1);
    patches.push(extractPatch(n.w1, w1.data, w1.shape, 'cols', sel));
    const b1 = await read(n.b1);
    patches.push(extractPatch(n.b1, b1.data, b1.shape, 'rows', sel));
    const w2 = await read(n.w2);
    patches.push(extractPatch(n.w2, w2.data, w2.shape, 'rows', sel));
    for (const name of [n.b2, ...(layerNorm ? [n.lnWeight, n.lnBias] : [])]) patches.push({ name, axis: 'all', indices: null, data: (await read(name)).data });
  }
  return patches;
}

/** The zero test APoZ counted with, as the summary records it. */
function apozCriterion(eps: number): string {
  return eps === 0 ? 'gelu(a) == 0' : `|gelu(a)| <= ${eps}`;
}

function allEqual(xs: Float64Array): boolean {
  return xs.every((x) => x === xs[0]);
}

function mean(xs: Float64Array): number {
  return xs.reduce((s, x) => s + x, 0) / Math.max(1, xs.length);
}

function variant(name: string, description: string, steps: Variant): MethodDefinition<FedpftConfig> {
  return defineMethod({
    name,
    description,
    options,
    server: (config) => fedPFT(config, steps),
    // Clients answer the APoZ probe that drives alignment during FL.
    client: { probes: { apoz: apozProbe } },
  });
}

/** FedPFT and its ablations (METHOD.md), in the report's order. */
export default [
  variant('fedpft', 'FedPFT: clients train a sub-FM of salient FFN neurons, distilled before FL and realigned during it', { before: true, during: true }),
  variant('fedpft-n', 'FedPFT-N: the sub-FM without any distillation', { before: false, during: false }),
  variant('fedpft-b', 'FedPFT-B: the sub-FM distilled before FL only', { before: true, during: false }),
  variant('fedpft-d', 'FedPFT-D: the sub-FM realigned during FL only', { before: false, during: true }),
];
