/**
 * The scenario file format. Every field's error message starts with "expected ..." so that
 * load.ts can finish it with what the file actually holds ("..., got 0"); messages that do not
 * start with "expected" are printed as they are.
 */
import { availableParallelism } from 'node:os';
import { z } from 'zod';
import { forbidden, int, mapping, nonNegative, oneOf, positive, unionError } from './fields.js';
import { DATASET_NAMES, DISTILL_DATASET_NAMES, type DistillDatasetName, FILE_DATASET_NAMES, isFileDataset } from '../data/names.js';
import { BACKEND_CHOICES, KERNEL_CHOICES } from '../tensor/backend-choices.js';
import { ACTOR_HOSTS } from './actor-hosts.js';
import { PARTITION_FAMILIES, type PartitionSpec } from '../data/partition.js';
import { parseRedisUrl, REDIS_URL_EXPECTED } from '../util/redis-url.js';
import { distillOverlap } from './distill-overlap.js';

const filePath = z.string({ error: 'expected a file path' }).min(1, { error: 'expected a file path' });

/**
 * One mapping per registered partition family (src/data/partition.ts); a field another family
 * has is refused by name ("only allowed for family ...") rather than as an unknown field.
 */
function partitionSection(f: (typeof PARTITION_FAMILIES)[number]) {
  const others = [...new Set(PARTITION_FAMILIES.flatMap((g) => Object.keys(g.fields)))].filter((k) => !(k in f.fields));
  const owners = (key: string) => PARTITION_FAMILIES.filter((g) => key in g.fields).map((g) => g.family).join(' or ');
  return mapping({ family: z.literal(f.family), ...f.fields, ...Object.fromEntries(others.map((k) => [k, forbidden(`only allowed for family ${owners(k)}`)])) });
}

const [firstFamily, ...otherFamilies] = PARTITION_FAMILIES.map(partitionSection);
export const partitionSchema = z.discriminatedUnion('family', [firstFamily as ReturnType<typeof partitionSection>, ...otherFamilies], { error: unionError });

export const federationSchema = mapping({
  clients: int(1).describe('N: simulated clients the training set is split over'),
  clientsPerRound: int(1).describe('K: clients sampled (without replacement) each round; at most clients'),
  rounds: int(1).describe('R: federated rounds; the linear schedule decays over them'),
  localEpochs: int(1).default(1).describe("passes over a client's own data per round"),
  batchSize: int(1).default(16).describe('examples per local optimiser step'),
  learningRate: positive().describe('lr0: the global learning rate of round 1 (AdamW)'),
  schedule: oneOf(['linear', 'constant']).default('linear').describe('linear: lr0 (R - r) / R in round r, the last round keeping the previous rate; constant: lr0'),
  weightDecay: nonNegative().default(0.01).describe("AdamW's decoupled weight decay in local training"),
  maxGradNorm: nonNegative().default(1).describe("clip each local step's gradients to this global L2 norm (the reference code: 1); 0: no clipping"),
  aggregation: oneOf(['weighted', 'uniform']).default('weighted').describe('weighted: by client data size'),
  evalEvery: int(1).default(1).describe('the last round is always evaluated'),
}).superRefine((f, ctx) => {
  if (f.clientsPerRound > f.clients) {
    ctx.addIssue({
      code: 'custom',
      path: ['clientsPerRound'],
      message: `must be <= federation.clients (${f.clients}), got ${f.clientsPerRound}`,
    });
  }
});

const dropoutError = 'expected a number >= 0 and < 1';

export const loraSchema = mapping({
  rank: int(1).default(8).describe('LoRA rank r on the attention query, key, value and output projections'),
  alpha: positive().default(16).describe('LoRA scale: the update is (alpha / r) B A'),
  dropout: z.number({ error: dropoutError }).min(0, { error: dropoutError }).lt(1, { error: dropoutError }).default(0.1).describe("dropout on LoRA's input"),
}).prefault({});

/** Which head tensors train and travel with LoRA (the classifier always does). */
export const headSchema = oneOf(['auto', 'classifier', 'classifier+pooler'])
  .default('auto')
  .describe("classifier: the reference code's (BERT's pretrained pooler stays frozen); classifier+pooler; auto: the pooler trains only when the FM has none of its own");

export const fraction = (what: string) =>
  z.number({ error: `expected ${what} in (0, 1]` }).gt(0, { error: `expected ${what} in (0, 1]` }).lte(1, { error: `expected ${what} in (0, 1]` });

/** Gradient clipping and learning-rate schedule of a distillation run (the reference code's are HF Trainer's). */
const stepSchedule = {
  maxGradNorm: nonNegative().default(1).describe('clip gradients to this global L2 norm (the reference code: 1); 0: no clipping'),
  schedule: oneOf(['linear-warmup', 'constant'])
    .default('linear-warmup')
    .describe("linear-warmup: HF's linear schedule, from 0 up over the warm-up steps, then down to 0 (the reference code); constant: learningRate throughout"),
  warmupRatio: z.number({ error: 'expected a number in [0, 1]' }).min(0, { error: 'expected a number in [0, 1]' }).max(1, { error: 'expected a number in [0, 1]' }).default(0.048)
    .describe('warm-up steps = ceil(warmupRatio * steps) (the reference code: 0.048)'),
};

/** Layer-level distillation toward the FM on a dataset from the FM's pretraining domain. */
export const distillSchema = mapping({
  dataset: oneOf(DISTILL_DATASET_NAMES).default('fashion-mnist').describe("distillation data: the FM's pretraining domain, not the task's (text FMs: moby-dick or sotu)"),
  examples: int(1).default(4000).describe('how many distillation examples to draw batches from'),
  steps: int(0).default(200).describe('optimiser steps of the distillation before FL; 0 skips it'),
  batchSize: int(1).default(32).describe('distillation examples per step'),
  learningRate: positive().default(0.001).describe('peak learning rate (AdamW)'),
  mu: nonNegative().default(0).describe('weight of the ||W1 W2 - W1\' W2\'||^2 term; 0 reproduces the reference code'),
  weightDecay: nonNegative().default(0.01).describe("AdamW's decoupled weight decay (the reference code: 0.01)"),
  ...stepSchedule,
}).prefault({});

/** Neuron-level alignment during FL (FedPFT step 4). */
export const alignSchema = mapping({
  steps: int(1).default(20).describe('optimiser steps of each realignment'),
  batchSize: int(1).default(32).describe('distillation examples per step'),
  learningRate: positive().default(0.0005).describe('peak learning rate (AdamW)'),
  apozEps: nonNegative()
    .default(0.01)
    .describe('|gelu(a)| <= apozEps counts as zero; 0 counts exact zeros only, which GELU almost never gives, so every APoZ ties'),
  probeExamples: int(1).optional().describe("at most this many of a client's examples feed its APoZ counts; default: all of them"),
  ...stepSchedule,
}).prefault({});

const deviceSlots = mapping({ slots: int(1) }).optional();

/** Kept apart so the JSON Schema can drop its default, which is this machine's core count. */
const workersSchema = int(1)
  .default(() => availableParallelism())
  .describe('worker threads; default: the number of CPU cores');

export const brokerSchema = mapping({
  url: z.string({ error: REDIS_URL_EXPECTED }).refine((u) => parseRedisUrl(u) !== null, { error: REDIS_URL_EXPECTED }).describe('the Redis server the BullMQ queue lives on'),
  queue: z
    .string({ error: 'expected a queue name made of letters, digits, "_" and "-"' })
    .regex(/^[A-Za-z0-9_-]+$/, { error: 'expected a queue name made of letters, digits, "_" and "-"' })
    .default('fedpft')
    .describe('the queue that `fedpft worker --queue` serves'),
  waitSeconds: positive().default(60).describe('stop the run when no worker serves the queue for this long'),
});

export const runtimeSchema = mapping({
  workers: workersSchema,
  backend: oneOf(BACKEND_CHOICES).default('auto').describe('auto: tensorflow-gpu, tensorflow, webgpu on a hardware adapter, wasm, cpu: the first that loads'),
  kernels: oneOf(KERNEL_CHOICES)
    .default('auto')
    .describe("exact: the stock tfjs kernels' float results, bit for bit; fast: wasm's float32 matrix products by OpenBLAS (libopenblas0-pthread), other bits, equally deterministic; auto: fast where the wasm backend runs and OpenBLAS loads, else exact. A run records the set it ran and resumes only under it"),
  actors: oneOf(ACTOR_HOSTS)
    .default('threads')
    .describe('where client actors run: worker threads of this process, child processes (runtime.workers of them; the tensorflow backends always use these), or `fedpft worker` processes on any machine through a BullMQ queue (runtime.broker)'),
  broker: brokerSchema.optional().describe('runtime.actors: broker only'),
  devices: mapping({ cpu: deviceSlots, gpu: deviceSlots }).optional().describe('slots: at most this many client tasks compute on the device at once; default: one per worker'),
}).superRefine((r, ctx) => {
  if (r.actors === 'broker' && !r.broker) ctx.addIssue({ code: 'custom', path: ['broker'], message: 'runtime.actors: broker needs runtime.broker.url (e.g. redis://127.0.0.1:6379)' });
  if (r.actors !== 'broker' && r.broker) ctx.addIssue({ code: 'custom', path: ['broker'], message: `runtime.broker is only read with runtime.actors: broker (this scenario has ${r.actors})` });
}).prefault({});

const probability = (what: string) =>
  z.number({ error: `expected ${what} in [0, 1)` }).min(0, { error: `expected ${what} in [0, 1)` }).lt(1, { error: `expected ${what} in [0, 1)` });

/**
 * Faults, all drawn from the scenario seed so a faulty run is as reproducible as a clean one.
 * dropout and stragglers change results (those clients send nothing); injected task errors and
 * worker crashes must not (the task is retried on a fresh actor).
 */
export const faultsSchema = mapping({
  dropout: probability('a probability').default(0).describe('each sampled client drops out (sends nothing) with this probability'),
  stragglers: mapping({
    probability: probability('a probability').default(0).describe('a sampled client is slow with this probability'),
    slowdown: z.number({ error: 'expected a number >= 1' }).min(1, { error: 'expected a number >= 1' }).default(4).describe("a slow client's steps take this many times as long"),
    deadline: positive().default(2).describe("round deadline in units of a normal client's time for its own steps; later updates are discarded"),
  }).prefault({}),
  taskErrors: probability('a probability').default(0).describe('inject: a client task throws on its first attempt'),
  workerCrashes: probability('a probability').default(0).describe("inject: a client task's worker thread dies on its first attempt"),
  nanUpdates: probability('a probability').default(0).describe('inject: a client sends an update containing NaN'),
  maxRetries: int(0).default(2).describe('attempts after the first for a task that threw or lost its worker'),
  onDivergence: oneOf(['reject', 'stop']).default('reject').describe('a NaN/Inf update: reject it and go on, or stop the run'),
}).prefault({});

/** A scenario's `method` section after validation: the name, the module it comes from (user methods), its own fields. */
export interface MethodOptions {
  name: string;
  /** Absolute path of the method's module (a user method); absent for built-in methods. */
  module?: string;
  [field: string]: unknown;
}

/**
 * The scenario schema with `method` validated by `method` (the registered methods' union,
 * src/methods/catalog.ts); this module knows no method.
 */
export function scenarioSchemaFor(method: z.ZodType) {
  return mapping({
  name: z
    .string({ error: 'expected a name made of letters, digits, ".", "_" and "-"' })
    .regex(/^[A-Za-z0-9._-]+$/, { error: 'expected a name made of letters, digits, ".", "_" and "-"' })
    .optional()
    .describe('default: the file name without its extension'),
  seed: int(0).describe('every random draw of the run derives from it (partition, sampling, dropout, initialisation)'),
  model: mapping({
    dir: z.string({ error: 'expected a directory path' }).min(1, { error: 'expected a directory path' })
      .describe('foundation model directory with config.json and model.safetensors'),
    init: oneOf(['pretrained', 'random'])
      .default('pretrained')
      .describe('random: same architecture, weights re-drawn from the seed (the baseline that shows what pretraining buys)'),
  }),
  task: mapping({
    dataset: oneOf(DATASET_NAMES).describe('the downstream task; glue-* and cifar* read your files (task.files)'),
    trainLimit: int(1).optional().describe('use only the first N training examples'),
    evalLimit: int(1).optional().describe('evaluate on only the first N validation examples'),
    maxLength: int(4).default(128).describe('text tasks: tokens per example after truncation and padding (ignored for images)'),
    files: mapping({
      train: z.union([filePath, z.array(filePath).min(1)]).describe('GLUE: train.tsv; CIFAR: one or more binary batch files'),
      validation: filePath.describe('GLUE: dev.tsv (MNLI: dev_matched.tsv or dev_mismatched.tsv); CIFAR: test_batch.bin / test.bin'),
    })
      .optional()
      .describe("the user's own files, required for glue-* and cifar* datasets"),
  }).superRefine((t, ctx) => {
    const needs = isFileDataset(t.dataset);
    if (needs && !t.files) ctx.addIssue({ code: 'custom', path: ['files'], message: `${t.dataset} is read from your files: give task.files.train and task.files.validation` });
    if (!needs && t.files) ctx.addIssue({ code: 'custom', path: ['files'], message: `${t.dataset} ships with the project; task.files is only for ${FILE_DATASET_NAMES.join(', ')}` });
  }),
  partition: partitionSchema,
  federation: federationSchema,
  method,
  faults: faultsSchema,
  runtime: runtimeSchema,
}).superRefine((s, ctx) => {
  // Distilling on the task's training data would hand the clients' private data to the server.
  const distill = (s.method as MethodOptions)['distill'] as { dataset?: unknown } | undefined;
  const problem = typeof distill?.dataset === 'string' ? distillOverlap(s.task.dataset, distill.dataset as DistillDatasetName) : null;
  if (problem) ctx.addIssue({ code: 'custom', path: ['method', 'distill', 'dataset'], message: problem });
});
}


/** A loaded scenario: defaults applied, `model.dir` absolute, `name` filled in. */
/** `method` as any method's section (each method's definition validates and types its own fields); `partition` as its family's. */
export type Scenario = Omit<z.output<ReturnType<typeof scenarioSchemaFor>>, 'name' | 'method' | 'partition'> & { name: string; method: MethodOptions; partition: PartitionSpec };
export type PartitionConfig = Scenario['partition'];
export type FederationConfig = Scenario['federation'];
export type RuntimeConfig = Scenario['runtime'];
export type FaultsConfig = Scenario['faults'];
export type BrokerConfig = z.output<typeof brokerSchema>;

/** The JSON Schema drops the workers default (this machine's core count). */
export function isWorkersSchema(schema: unknown): boolean {
  return schema === workersSchema;
}
