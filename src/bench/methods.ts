import { ClientModel } from '../client/client-model.js';
import { localTrain } from '../client/local-train.js';
import { loadScenarioTask, scenarioTextEncoding } from '../scenario/task-data.js';
import { createMethod } from '../methods/registry.js';
import { disposeParams } from '../model/params.js';
import { encoderFfnWidth as ffnWidth, isText, loadModel, type ModelConfig } from '../model/encoder.js';
import { updatedNeuronCount } from '../proxy/apoz.js';
import { backendLabel, initBackend, type BackendChoice } from '../tensor/backend.js';
import { benchScenario, load1, median } from './common.js';
import { measureTrainStep } from './train-step.js';

export interface MethodsBenchOptions {
  modelDir: string;
  backend: BackendChoice;
  batchSize: number;
  /** Examples of one timed local-training call (ceil(examples / batchSize) steps). */
  examples: number;
  /** Timed calls per method, interleaved across methods. */
  repeats: number;
  /** K, for bytes per round. */
  clientsPerRound: number;
  /** FM shapes (width d, layers) for the FedPFT layout scan; empty: none. */
  widthScan: Array<{ hidden: number; layers: number }>;
  /** Examples per scan step (texts at TEXT_LENGTH tokens), timed steps per call and interleaved repeats. */
  scanBatch: { images: number; texts: number; steps: number; repeats: number };
}

/** FedPFT's layout against the full FM on a random-weight variant of the benched FM. */
export interface WidthScanRow {
  hidden: number;
  layers: number;
  /** LoRA r=8 train step (dropout 0), median ms over interleaved repeats. */
  fullMs: number;
  fedpftMs: number;
  stepRatio: number;
  /** FLOPs ratio from the shapes: the compute floor. */
  macsRatio: number;
}

export interface MethodBytes {
  /** Trainable vector down + up: 2 x 4 bytes x trainable parameters. */
  exchangePerClient: number;
  /** clientsPerRound x exchangePerClient. */
  exchangePerRound: number;
  /** FedPFT only: (APoZ counts up + realigned FFN patches down) for K clients every `interval` rounds, divided by interval; 0 otherwise. */
  alignmentPerRound: number;
  /** exchangePerRound + alignmentPerRound. */
  perRound: number;
}

export type BenchedMethod = 'fedpetuning' | 'fedot' | 'fedpft' | 'fedpft-all-layers';

export interface MethodRow {
  method: BenchedMethod;
  clientModel: string;
  clientLayers: number;
  clientFfnWidths: number[];
  trainableParams: number;
  clientForwardMacsPerExample: number;
  /** clientForwardMacsPerExample / FedPETuning's: the compute floor of stepRatio. */
  macsRatio: number;
  /** Median over repeats of (local-training wall ms / steps). */
  msPerStep: number;
  samples: number[];
  /** msPerStep / FedPETuning's msPerStep. */
  stepRatio: number;
  bytes: MethodBytes;
}

export interface MethodsBench {
  definition: string;
  model: string;
  /** mnist for image FMs; spam at TEXT_LENGTH tokens for text FMs. */
  dataset: string;
  backend: string;
  batchSize: number;
  stepsPerCall: number;
  repeats: number;
  clientsPerRound: number;
  rows: MethodRow[];
  /** Examples per step of the width scan. */
  scanBatch: number;
  widthScan: WidthScanRow[];
  loadBefore: number;
  loadAfter: number;
}

const LORA = { rank: 8, alpha: 16, dropout: 0.1 };
/** Tokens per example of the text FMs' client steps, as in scenarios/text. */
export const TEXT_LENGTH = 64;

export const METHODS_DEFINITION =
  "client step = localTrain (AdamW, LoRA dropout 0.1, as the actors run it) of each method's client model built by its own setup() on the shipped FM, " +
  "wall ms / steps, median over interleaved repeats; FedPFT's sub-FM keeps d'_ff = d neurons in the compressed layers, the first and last layer whole as in the paper (fedpft-n setup: distillation changes the weights, not the step time); " +
  'fedpft-all-layers compresses every layer (retained: []), to show how the step ratio follows the MACs ratio; ' +
  'FedOT: adapterLayers 1, emulatorLayers 2, adapter LoRA rank scaled by L/2a (scenarios/methods). ' +
  'bytes per round (closed form) = K x 2 x 4 x trainable; FedPFT adds K x (APoZ counts up + realigned neuron patches down) / interval (t=5, p=0.5)';

export const WIDTH_SCAN_DEFINITION =
  "width scan: the same architecture with random weights at other widths d (d_ff = 4d, head size kept) and depths, FedPFT's layout (first and last layer whole, d'_ff = d elsewhere) " +
  "against the full FM, timed LoRA r=8 train steps (AdamW, dropout 0; text at 64 tokens), median over interleaved repeats: where the FFN dominates the step, the ratio falls towards the MACs ratio";

/**
 * `cfg` at width `hidden` and depth `layers` (d_ff = 4 x hidden, the head size kept), whole
 * or with FedPFT's layout: FFN width d in every layer but the first and the last.
 */
function scanConfigs(cfg: ModelConfig, hidden: number, layers: number): { full: ModelConfig; fedpft: ModelConfig } {
  const headSize = cfg.hiddenSize / cfg.numAttentionHeads;
  const full = { ...cfg, hiddenSize: hidden, intermediateSize: 4 * hidden, numAttentionHeads: Math.max(1, Math.round(hidden / headSize)), numHiddenLayers: layers, intermediateSizes: undefined } as ModelConfig;
  const widths = Array.from({ length: layers }, (_, l) => (l === 0 || l === layers - 1 ? 4 * hidden : hidden));
  return { full, fedpft: { ...full, intermediateSizes: widths } as ModelConfig };
}

async function widthScan(cfg: ModelConfig, opts: MethodsBenchOptions): Promise<{ batch: number; rows: WidthScanRow[] }> {
  const text = isText(cfg);
  const batch = text ? opts.scanBatch.texts : opts.scanBatch.images;
  const rows: WidthScanRow[] = [];
  for (const { hidden, layers } of opts.widthScan) {
    const { full, fedpft } = scanConfigs(cfg, hidden, layers);
    const ms: Record<'full' | 'fedpft', number[]> = { full: [], fedpft: [] };
    const flops = { full: 0, fedpft: 0 };
    for (let r = 0; r < opts.scanBatch.repeats; r++) {
      for (const [key, c] of [['full', full], ['fedpft', fedpft]] as const) {
        const m = await measureTrainStep(c, batch, opts.scanBatch.steps, { rank: LORA.rank }, TEXT_LENGTH);
        ms[key].push(m.msPerStep);
        flops[key] = m.flopsPerStep;
      }
    }
    const [fullMs, fedpftMs] = [median(ms.full), median(ms.fedpft)];
    rows.push({ hidden, layers, fullMs, fedpftMs, stepRatio: fedpftMs / fullMs, macsRatio: flops.fedpft / flops.full });
  }
  return { batch, rows };
}

/** Client step time and bytes per round of FedPFT and FedOT beside FedPETuning. */
export async function benchMethods(opts: MethodsBenchOptions): Promise<MethodsBench> {
  const loadBefore = load1();
  const backend = await initBackend(opts.backend);
  const probe = loadModel(opts.modelDir);
  const d = probe.cfg.hiddenSize;
  disposeParams(probe.params);
  const configs = {
    fedpetuning: { name: 'fedpetuning', lora: LORA },
    fedot: { name: 'fedot', lora: LORA, adapterLayers: 1, emulatorLayers: 2, distill: { steps: 0 } },
    fedpft: { name: 'fedpft-n', lora: LORA, keep: d, interval: 5, proportion: 0.5 },
    'fedpft-all-layers': { name: 'fedpft-n', lora: LORA, keep: d, interval: 5, proportion: 0.5, retained: [] },
  } as const;
  const text = isText(probe.cfg);
  const dataset = text ? 'spam' : 'mnist';
  const scenarioFor = (key: string, method: Record<string, unknown>) =>
    benchScenario({
      name: `bench-${key}`,
      modelDir: opts.modelDir,
      backend: opts.backend,
      workers: 1,
      dataset,
      ...(text ? { maxLength: TEXT_LENGTH } : {}),
      trainLimit: opts.examples,
      partition: { family: 'iid' },
      clients: 1,
      clientsPerRound: 1,
      rounds: 1,
      evalEvery: 1,
      batchSize: opts.batchSize,
      method,
    });
  const data = loadScenarioTask(scenarioFor('data', configs.fedpetuning));
  const shared = { features: data.train.features, labels: data.train.labels, featureSize: data.train.featureSize };
  const built: Array<{ method: BenchedMethod; model: ClientModel; initial: Float32Array; info: Record<string, unknown>; bytes: MethodBytes; describe: string }> = [];
  try {
    for (const [key, config] of Object.entries(configs) as Array<[BenchedMethod, Record<string, unknown>]>) {
      const scenario = scenarioFor(key, config);
      const fm = loadModel(scenario.model.dir);
      const method = createMethod(scenario.method);
      try {
        const textEncoding = scenarioTextEncoding(scenario);
        const setup = await method.setup({ scenario, fm, data, log: () => {}, ...(textEncoding ? { text: textEncoding } : {}) });
        const cfg = setup.clientModel.config;
        const trainable = setup.initial.length;
        const exchangePerClient = 2 * 4 * trainable;
        let alignmentPerRound = 0;
        if (scenario.method.name === 'fedpft-n') {
          const layers = setup.info['compressedLayers'] as number[];
          const probeUp = layers.reduce((s, l) => s + 4 * ffnWidth(cfg, l), 4);
          // W1' columns, b1' entries and W2' rows of the realigned neurons (values + 4-byte indices), plus b2' and the FFN LayerNorm whole.
          const patchDown = layers.reduce((s, l) => {
            const n = updatedNeuronCount(scenario.method.name === 'fedpft-n' ? (scenario.method['proportion'] as number) : 0, ffnWidth(cfg, l));
            return s + 4 * (d * n + n + n * d + 3 * d) + 4 * 3 * n;
          }, 0);
          alignmentPerRound = (opts.clientsPerRound * (probeUp + patchDown)) / (scenario.method['interval'] as number);
        }
        const exchangePerRound = opts.clientsPerRound * exchangePerClient;
        const widths = Array.from({ length: cfg.numHiddenLayers }, (_, l) => ffnWidth(cfg, l));
        const describe =
          key === 'fedpetuning'
            ? `full FM, LoRA r=${LORA.rank} on every layer`
            : key === 'fedot'
              ? `${cfg.numHiddenLayers}-layer emulator (adapters ${String(setup.info['adapterLayers'])}), adapter LoRA r=${String(setup.info['adapterLoraRank'])}`
              : `sub-FM, FFN widths ${widths.join('/')}, LoRA r=${LORA.rank}`;
        built.push({ method: key, model: new ClientModel(setup.clientModel), initial: setup.initial, info: setup.info, bytes: { exchangePerClient, exchangePerRound, alignmentPerRound, perRound: exchangePerRound + alignmentPerRound }, describe });
      } finally {
        disposeParams(fm.params);
        method.dispose();
      }
    }
    const task = (initial: Float32Array) => ({
      round: 1,
      clientId: 0,
      seed: 42,
      lr: 0.005,
      weightDecay: 0.01,
      epochs: 1,
      batchSize: opts.batchSize,
      maxGradNorm: 1,
      // Only the default local training runs here (localTrain directly), whichever method built the model.
      method: { options: { name: 'fedpetuning' } },
      weights: initial.slice(),
      indices: Int32Array.from({ length: data.train.n }, (_, i) => i),
    });
    for (const b of built) await localTrain(b.model, shared, task(b.initial)); // warm-up
    const samples = new Map<string, number[]>(built.map((b) => [b.method, []]));
    for (let r = 0; r < opts.repeats; r++) {
      for (const b of built) {
        const result = await localTrain(b.model, shared, task(b.initial));
        samples.get(b.method)?.push(result.trainMs / result.steps);
      }
    }
    const base = built[0];
    if (!base || base.method !== 'fedpetuning') throw new Error('methods bench: FedPETuning must come first');
    const baseMs = median(samples.get('fedpetuning') ?? []);
    const baseMacs = base.info['clientForwardMacsPerExample'] as number;
    const rows = built.map((b): MethodRow => {
      const ms = median(samples.get(b.method) ?? []);
      const cfg = b.model.spec.config;
      const macs = b.info['clientForwardMacsPerExample'] as number;
      return {
        method: b.method,
        clientModel: b.describe,
        clientLayers: cfg.numHiddenLayers,
        clientFfnWidths: Array.from({ length: cfg.numHiddenLayers }, (_, l) => ffnWidth(cfg, l)),
        trainableParams: b.initial.length,
        clientForwardMacsPerExample: macs,
        macsRatio: macs / baseMacs,
        msPerStep: ms,
        samples: samples.get(b.method) ?? [],
        stepRatio: ms / baseMs,
        bytes: b.bytes,
      };
    });
    const scan = await widthScan(probe.cfg, opts);
    return {
      definition: METHODS_DEFINITION,
      model: opts.modelDir,
      dataset: text ? `spam (${TEXT_LENGTH} tokens)` : 'mnist',
      backend: backendLabel(backend),
      batchSize: opts.batchSize,
      stepsPerCall: Math.ceil(data.train.n / opts.batchSize),
      repeats: opts.repeats,
      clientsPerRound: opts.clientsPerRound,
      rows,
      scanBatch: scan.batch,
      widthScan: scan.rows,
      loadBefore,
      loadAfter: load1(),
    };
  } finally {
    for (const b of built) b.model.dispose();
  }
}
