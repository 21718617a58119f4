/**
 * Generators of hostile input: malformed scenario files and damaged FM checkpoint directories.
 * Every case they produce must be rejected with a one-line UserError, never another error,
 * a crash or a hang. They are deterministic (no Math.random), so a failure names a case that
 * can be reproduced.
 *
 * Tokenizer files are not covered: this project has no tokenizer loader yet (its FMs are ViTs on
 * images; test/fixtures/tokenizer/ has only fixtures). Add its cases here when one lands in src/.
 */
import { stringify } from 'yaml';

export interface TextCase {
  name: string;
  text: string;
}

/** A file of a damaged FM directory: bytes or text, deleted, or replaced by a directory. */
export type FileContent = string | Buffer | 'missing' | 'directory';

export interface FmCase {
  name: string;
  /** Left out: the valid original. */
  config?: FileContent;
  weights?: FileContent;
}

type Json = Record<string, unknown>;

/** mulberry32: a tiny seeded generator for garbage bytes (the lint rule bans Math.random). */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function garbageBytes(seed: number, length: number): Buffer {
  const next = prng(seed);
  const out = Buffer.alloc(length);
  for (let i = 0; i < length; i++) out[i] = Math.floor(next() * 256);
  return out;
}

// ---------------------------------------------------------------------------------------------
// Scenarios
// ---------------------------------------------------------------------------------------------

export type MethodName = 'fedpetuning' | 'fedpft' | 'fedot';

/**
 * A valid scenario with every section written out (so that every level can get an unknown key)
 * and `seed` last with a one-digit value, so that every proper prefix of its YAML is invalid.
 */
export function validScenario(fmDir: string, method: MethodName = 'fedpetuning'): Json {
  const lora = { rank: 2, alpha: 4, dropout: 0.1 };
  const distill = { dataset: 'fashion-mnist', examples: 200, steps: 5, batchSize: 16, learningRate: 0.001, mu: 0, weightDecay: 0.01, maxGradNorm: 1, schedule: 'linear-warmup', warmupRatio: 0.048 };
  const methods: Record<MethodName, Json> = {
    fedpetuning: { name: 'fedpetuning', lora, head: 'auto' },
    fedpft: {
      name: 'fedpft', lora, head: 'auto', ffnLayerNorm: 'auto', keep: 0.25, retained: [0, 3], distill, interval: 2, proportion: 0.5,
      align: { steps: 3, batchSize: 16, learningRate: 0.0005, apozEps: 0, probeExamples: 16, maxGradNorm: 1, schedule: 'linear-warmup', warmupRatio: 0.048 },
    },
    fedot: { name: 'fedot', lora, head: 'auto', adapterLayers: 1, emulatorLayers: 1, distill, distillObjective: 'emulator-output' },
  };
  return {
    name: 'hostile',
    model: { dir: fmDir, init: 'pretrained' },
    task: { dataset: 'mnist', trainLimit: 480, evalLimit: 200 },
    partition: { family: 'dirichlet', alpha: 0.5, imbalance: 0 },
    federation: {
      clients: 12, clientsPerRound: 4, rounds: 4, localEpochs: 1, batchSize: 16, learningRate: 0.01,
      schedule: 'linear', weightDecay: 0.01, maxGradNorm: 1, aggregation: 'weighted', evalEvery: 2,
    },
    method: methods[method],
    faults: {
      dropout: 0, stragglers: { probability: 0, slowdown: 4, deadline: 2 },
      taskErrors: 0, workerCrashes: 0, nanUpdates: 0, maxRetries: 2, onDivergence: 'reject',
    },
    runtime: { workers: 1, backend: 'wasm', kernels: 'exact', actors: 'threads', devices: { cpu: { slots: 1 } } },
    seed: 7,
  };
}

export function toYaml(doc: unknown): string {
  return stringify(doc);
}

const intBad = (min: number): unknown[] => [min - 1, min + 0.5, -1e9, NaN, Infinity, -Infinity, 1e300, 2 ** 53, '3', 'x', true, null, [1], { a: 1 }];
const positiveBad: unknown[] = [0, -1, -1e-9, NaN, Infinity, -Infinity, 'x', '0.1', true, null, [0.1], { a: 1 }];
const nonNegativeBad: unknown[] = [-1, -1e-9, NaN, Infinity, -Infinity, 'x', true, null, [0]];
const probabilityBad: unknown[] = [1, 1.5, -0.1, NaN, Infinity, -Infinity, 'x', '0.5', true, null, [0.1]];
const ratioBad: unknown[] = [1.5, -0.1, NaN, Infinity, 'x', '0.5', true, null, [0.1]];
const enumBad: unknown[] = ['bogus', '', 'WASM', 5, true, null, ['x'], { a: 1 }];
const stringBad: unknown[] = [5, true, null, [], { a: 1 }, ''];

/** Every leaf of validScenario(…, method) with values its schema must reject. */
function leaves(method: MethodName): Array<[string, unknown[]]> {
  const common: Array<[string, unknown[]]> = [
    ['name', [...stringBad, 'has space', 'a/b', '../up', 'a\nb', 'a\u2028b', '\u001b[31mred', 'x'.repeat(10_000) + ' ']],
    ['seed', intBad(0)],
    ['model.dir', stringBad],
    ['model.init', enumBad],
    ['task.dataset', enumBad],
    ['task.trainLimit', intBad(1)],
    ['task.evalLimit', intBad(1)],
    ['partition.family', enumBad],
    ['partition.alpha', positiveBad],
    ['partition.imbalance', nonNegativeBad],
    ['federation.clients', intBad(1)],
    ['federation.clientsPerRound', intBad(1)],
    ['federation.rounds', intBad(1)],
    ['federation.localEpochs', intBad(1)],
    ['federation.batchSize', intBad(1)],
    ['federation.learningRate', positiveBad],
    ['federation.schedule', enumBad],
    ['federation.weightDecay', nonNegativeBad],
    ['federation.maxGradNorm', nonNegativeBad],
    ['federation.aggregation', enumBad],
    ['federation.evalEvery', intBad(1)],
    ['method.name', enumBad],
    ['method.lora.rank', intBad(1)],
    ['method.lora.alpha', positiveBad],
    ['method.lora.dropout', probabilityBad],
    ['method.head', enumBad],
    ['faults.dropout', probabilityBad],
    ['faults.stragglers.probability', probabilityBad],
    ['faults.stragglers.slowdown', [0.5, 0, -1, NaN, Infinity, 'x', null, [4]]],
    ['faults.stragglers.deadline', positiveBad],
    ['faults.taskErrors', probabilityBad],
    ['faults.workerCrashes', probabilityBad],
    ['faults.nanUpdates', probabilityBad],
    ['faults.maxRetries', intBad(0)],
    ['faults.onDivergence', enumBad],
    ['runtime.workers', intBad(1)],
    ['runtime.backend', enumBad],
    ['runtime.actors', enumBad],
    ['runtime.kernels', enumBad],
    ['runtime.devices.cpu.slots', intBad(1)],
  ];
  const distill: Array<[string, unknown[]]> = [
    ['method.distill.dataset', enumBad],
    ['method.distill.examples', intBad(1)],
    ['method.distill.steps', intBad(0)],
    ['method.distill.batchSize', intBad(1)],
    ['method.distill.learningRate', positiveBad],
    ['method.distill.mu', nonNegativeBad],
    ['method.distill.weightDecay', nonNegativeBad],
    ['method.distill.maxGradNorm', nonNegativeBad],
    ['method.distill.schedule', enumBad],
    ['method.distill.warmupRatio', ratioBad],
  ];
  if (method === 'fedpft') {
    return [
      ...common,
      ...distill,
      ['method.keep', [0, -1, NaN, Infinity, 'x', null, [0.25]]],
      ['method.retained', ['x', 5, null, { a: 1 }, [-1], [1.5], ['a'], [null]]],
      ['method.interval', intBad(1)],
      ['method.proportion', [0, 1.01, -0.5, NaN, 'x', null]],
      ['method.align.steps', intBad(1)],
      ['method.align.batchSize', intBad(1)],
      ['method.align.learningRate', positiveBad],
      ['method.align.apozEps', nonNegativeBad],
      ['method.align.probeExamples', intBad(1)],
      ['method.align.maxGradNorm', nonNegativeBad],
      ['method.align.schedule', enumBad],
      ['method.align.warmupRatio', ratioBad],
      ['method.ffnLayerNorm', enumBad],
    ];
  }
  if (method === 'fedot') return [...common, ...distill, ['method.adapterLayers', intBad(1)], ['method.emulatorLayers', intBad(1)], ['method.distillObjective', enumBad]];
  return common;
}

const REQUIRED = [
  'seed', 'model', 'model.dir', 'task', 'task.dataset', 'partition', 'partition.family', 'partition.alpha',
  'federation', 'federation.clients', 'federation.clientsPerRound', 'federation.rounds', 'federation.learningRate',
  'method', 'method.name', 'runtime.devices.cpu.slots',
];

const MAPPINGS = [
  '', 'model', 'task', 'partition', 'federation', 'method', 'method.lora', 'faults', 'faults.stragglers',
  'runtime', 'runtime.devices', 'runtime.devices.cpu',
];

const SECTIONS = ['model', 'task', 'partition', 'federation', 'method', 'method.lora', 'faults', 'faults.stragglers', 'runtime', 'runtime.devices', 'runtime.devices.cpu'];

function clone(doc: Json): Json {
  return structuredClone(doc);
}

function parentOf(doc: Json, path: string): { parent: Json; key: string } {
  const keys = path.split('.');
  const key = keys.pop() as string;
  let parent = doc;
  for (const k of keys) parent = parent[k] as Json;
  return { parent, key };
}

/** A copy of doc with path set to value (a key called __proto__ becomes an own property). */
function withValue(doc: Json, path: string, value: unknown): Json {
  const out = clone(doc);
  const { parent, key } = parentOf(out, path);
  Object.defineProperty(parent, key, { value, enumerable: true, writable: true, configurable: true });
  return out;
}

function without(doc: Json, path: string): Json {
  const out = clone(doc);
  const { parent, key } = parentOf(out, path);
  delete parent[key];
  return out;
}

function label(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value.length > 20 ? `${value.slice(0, 20)}…` : value);
  if (typeof value === 'number') return String(value);
  return JSON.stringify(value);
}

/** Mutations of valid scenarios that the schema (or the model directory check) must reject. */
export function scenarioCases(fmDir: string, paths: { file: string; missingDir: string; emptyDir: string }): TextCase[] {
  const cases: TextCase[] = [];
  const add = (name: string, text: string) => cases.push({ name, text });
  const base = validScenario(fmDir);

  // Wrong types and out-of-range values for every field, for three method shapes.
  for (const method of ['fedpetuning', 'fedpft', 'fedot'] as const) {
    const doc = validScenario(fmDir, method);
    for (const [path, bad] of leaves(method)) {
      if (method !== 'fedpetuning' && !path.startsWith('method.')) continue;
      for (const value of bad) add(`${method}: ${path} = ${label(value)}`, toYaml(withValue(doc, path, value)));
    }
  }
  // Whole sections of the wrong type.
  for (const path of SECTIONS) {
    for (const value of [5, 'x', [], true, null, [{ a: 1 }]]) add(`section ${path} = ${label(value)}`, toYaml(withValue(base, path, value)));
  }
  // Each required field dropped.
  for (const path of REQUIRED) add(`missing ${path}`, toYaml(without(base, path)));
  // Unknown keys at every level, including names that are hard to print or special to JS.
  for (const path of MAPPINGS) {
    for (const key of ['bogus', 'Seed', 'rounds ', 'bad\nkey', 'line\u2028sep', '', '__proto__', 'constructor', 'toString']) {
      add(`unknown key ${JSON.stringify(key)} in ${path || 'top level'}`, toYaml(withValue(base, path ? `${path}.${key}` : key, 1)));
    }
  }
  // Keys that one variant of a union must not have, and cross-field rules.
  add('iid with alpha', toYaml(withValue(base, 'partition', { family: 'iid', alpha: 0.5 })));
  add('dirichlet with minSize', toYaml(withValue(base, 'partition', { family: 'dirichlet', alpha: 0.5, minSize: 3 })));
  add('dirichlet-per-class without alpha', toYaml(withValue(base, 'partition', { family: 'dirichlet-per-class' })));
  add('fedpetuning with fedpft keys', toYaml(withValue(base, 'method.keep', 0.25)));
  add('clientsPerRound > clients', toYaml(withValue(base, 'federation.clientsPerRound', 13)));
  // The model directory: missing, a file, without its files, a path that is hard to print.
  add('model.dir missing', toYaml(withValue(base, 'model.dir', paths.missingDir)));
  add('model.dir is a file', toYaml(withValue(base, 'model.dir', paths.file)));
  add('model.dir without config.json and weights', toYaml(withValue(base, 'model.dir', paths.emptyDir)));
  add('model.dir with a newline', toYaml(withValue(base, 'model.dir', `${paths.missingDir}\nsecond line`)));
  add('model.dir with a NUL byte', toYaml(withValue(base, 'model.dir', `${fmDir}\u0000`)));

  const text = toYaml(base);
  // Every proper prefix of the file (a half-written scenario) is invalid, because seed: 7 is last.
  const end = text.trimEnd().length;
  for (let cut = 0; cut < end; cut += 9) add(`truncated at ${cut}`, text.slice(0, cut));
  add('truncated one character early', text.slice(0, end - 1));
  // Invalid YAML fragments spliced in after each top-level section.
  const fragments = [
    '  : :', '[', '{unclosed: 1', '"unterminated', "'unterminated", '\tfoo: 1', 'key: value: other', '- item',
    '*undefined_alias', '%YAML 1.2', '---\nsecond: document', '...\ngarbage: [', '@reserved', '`backtick', 'dup: 1\ndup: 2',
    'seed: 8', '  misindented: 1', '? [complex, key]\n: 1',
  ];
  const lines = text.split('\n');
  const tops = lines.map((l, i) => (i > 0 && /^\S/.test(l) ? i : -1)).filter((i) => i > 0);
  for (const [f, fragment] of fragments.entries()) {
    for (const at of tops.filter((_, k) => k % 3 === f % 3)) {
      add(`fragment ${JSON.stringify(fragment)} before line ${at + 1}`, [...lines.slice(0, at), fragment, ...lines.slice(at)].join('\n'));
    }
  }
  // Whole documents that are not a scenario.
  const documents: Array<[string, string]> = [
    ['empty file', ''], ['whitespace', ' \n\t\n'], ['only a comment', '# nothing\n'], ['tilde', '~'], ['null', 'null'],
    ['a number', '42'], ['a string', '"just a string"'], ['a list', '- a\n- b\n'], ['a flow list', '[1, 2, 3]'],
    ['an empty mapping', '{}'], ['true', 'true'], ['binary tag', '!!binary aGVsbG8='], ['self-referencing alias', '&a [*a]'],
    ['two documents', `${text}---\n${text}`], ['BOM then garbage', '\ufeff\u0000\u0001{{{'], ['NUL bytes', '\u0000'.repeat(64)],
    ['control characters', 'seed: \u0007\u0008\u001b[31m'], ['a mapping of junk', 'a: 1\nb: [2]\nc: {d: e}\n'],
    ['unknown tag', `!!python/object:os.system ${JSON.stringify('rm -rf /')}`],
  ];
  for (const [name, doc] of documents) add(name, doc);
  // An alias bomb ("billion laughs"): the parser must refuse it rather than expand it.
  const bomb = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]'];
  for (let i = 1; i < 9; i++) bomb.push(`${String.fromCharCode(97 + i)}: &${String.fromCharCode(97 + i)} [${Array(9).fill(`*${String.fromCharCode(96 + i)}`).join(',')}]`);
  add('alias bomb', `${text}${bomb.join('\n')}\n`);
  // Huge numbers and numbers YAML reads differently from what they look like.
  for (const [from, to] of [
    ['seed: 7', 'seed: 1e309'], ['seed: 7', 'seed: 99999999999999999999999'], ['seed: 7', 'seed: 0x7fffffffffffffffff'],
    ['seed: 7', 'seed: 7.5'], ['seed: 7', 'seed: .inf'], ['seed: 7', 'seed: -.inf'], ['seed: 7', 'seed: .nan'], ['seed: 7', 'seed: 0b101'],
    ['seed: 7', 'seed: 1_000'], ['seed: 7', 'seed: yes'], ['seed: 7', 'seed: 7 7'], ['rounds: 4', 'rounds: 1e400'],
    ['learningRate: 0.01', 'learningRate: 1e-400'], ['clients: 12', 'clients: 12e99'], ['batchSize: 16', 'batchSize: 0x10.8'],
  ] as const) {
    add(`number: ${to}`, text.replace(from, to));
  }
  // Deeply nested junk, in flow and block style, under a known and an unknown key.
  for (const depth of [100, 5_000, 100_000]) {
    add(`nested flow lists ${depth} deep`, text.replace(/^federation:/m, `federation: ${'['.repeat(depth)}${']'.repeat(depth)}\nold_federation:`));
    add(`nested flow mappings ${depth} deep`, `${text}junk: ${'{a: '.repeat(depth)}1${'}'.repeat(depth)}\n`);
    add(`unclosed nesting ${depth} deep`, `${text}junk: ${'['.repeat(depth)}\n`);
  }
  // 16 KB of "{" once made V8 abort the process (fatal OOM in its regexp compiler at the stack limit).
  add('16 KB of "{"', `${text}junk: ${'{'.repeat(16_384)}\n`);
  add('nested block mappings 150 deep', `${text}junk:\n${Array.from({ length: 150 }, (_, i) => `${'  '.repeat(i + 1)}a${i}:`).join('\n')} 1\n`);
  add('nested block mappings 2000 deep, 1-space indent', `${text}junk:\n${Array.from({ length: 2000 }, (_, i) => `${' '.repeat(i + 1)}a:`).join('\n')} 1\n`);
  add('nested block sequences 50000 deep on one line', `${text}junk: \n  ${'- '.repeat(50_000)}x\n`);
  add('thousands of unknown keys', `${text}${Array.from({ length: 3000 }, (_, i) => `k${i}: ${i}`).join('\n')}\n`);
  // Many keys cost the YAML parser quadratic time (25 s for 64k); such a file is refused by size.
  add('a 1 MB file of distinct keys', `${text}${Array.from({ length: 80_000 }, (_, i) => `k${i}: ${i}`).join('\n')}\n`);
  // Binary garbage, as the file reader decodes it (UTF-8 with replacement characters) and as Latin-1.
  for (const [i, length] of [1, 7, 64, 512, 4096, 65_536].entries()) {
    add(`garbage utf8 ${length} bytes`, garbageBytes(100 + i, length).toString('utf8'));
    add(`garbage latin1 ${length} bytes`, garbageBytes(200 + i, length).toString('latin1'));
  }
  add('valid scenario then garbage', `${text}${garbageBytes(300, 256).toString('utf8')}`);
  add('UTF-16 scenario read as UTF-8', Buffer.from(`\ufeff${text}`, 'utf16le').toString('utf8'));
  return cases;
}

// ---------------------------------------------------------------------------------------------
// Checkpoints (config.json + model.safetensors)
// ---------------------------------------------------------------------------------------------

interface Parsed {
  header: Json;
  data: Buffer;
}

/** Splits a valid safetensors file (independently of the code under test). */
export function splitSafetensors(buf: Buffer): Parsed {
  const n = Number(buf.readBigUInt64LE(0));
  return { header: JSON.parse(buf.subarray(8, 8 + n).toString('utf8')) as Json, data: buf.subarray(8 + n) };
}

/** Header JSON (or raw header text) + data, with the header length prefix set or overridden. */
export function buildSafetensors(header: Json | string, data: Buffer, declared?: bigint): Buffer {
  const json = typeof header === 'string' ? header : JSON.stringify(header);
  const bytes = Buffer.from(json, 'utf8');
  const padded = Buffer.concat([bytes, Buffer.alloc((8 - (bytes.length % 8)) % 8, 0x20)]);
  const prefix = Buffer.alloc(8);
  prefix.writeBigUInt64LE(declared ?? BigInt(padded.length));
  return Buffer.concat([prefix, padded, data]);
}

interface EntryJson {
  dtype: string;
  shape: number[];
  data_offsets: [number, number];
}

/** Damaged FM directories: safetensors-level junk, header/config mismatches and config garbage. */
export function checkpointCases(config: Json, weights: Buffer): FmCase[] {
  const cases: FmCase[] = [];
  const { header, data } = splitSafetensors(weights);
  const names = Object.keys(header).filter((k) => k !== '__metadata__');
  const entry = (name: string) => header[name] as EntryJson;
  const byOffset = [...names].sort((a, b) => entry(a).data_offsets[0] - entry(b).data_offsets[0]);
  const first = byOffset[0] as string;
  const last = byOffset[byOffset.length - 1] as string;
  const withEntry = (name: string, value: unknown): Json => ({ ...structuredClone(header), [name]: value });
  const weightsCase = (name: string, hdr: Json | string, declared?: bigint, body = data) => cases.push({ name, weights: buildSafetensors(hdr, body, declared) });

  // --- the file as a whole
  for (const length of [0, 1, 4, 7]) cases.push({ name: `weights file of ${length} bytes`, weights: weights.subarray(0, length) });
  const headerEnd = weights.length - data.length;
  for (const cut of [8, 12, Math.floor(headerEnd / 2), headerEnd - 1, headerEnd, headerEnd + 1, headerEnd + Math.floor(data.length / 2), weights.length - 4, weights.length - 1]) {
    cases.push({ name: `weights truncated to ${cut} of ${weights.length} bytes`, weights: weights.subarray(0, cut) });
  }
  const rest = BigInt(weights.length - 8);
  for (const declared of [rest + 1n, rest + 8n, 2n ** 32n, 2n ** 63n, 2n ** 64n - 1n, rest, 0n]) {
    weightsCase(`header length ${declared}`, header, declared);
  }
  for (const [i, length] of [8, 64, 4096].entries()) cases.push({ name: `weights of ${length} garbage bytes`, weights: garbageBytes(400 + i, length) });
  // A plausible length prefix followed by garbage: the header itself is junk.
  for (const [i, length] of [16, 256].entries()) {
    const junk = garbageBytes(500 + i, length);
    junk.writeBigUInt64LE(BigInt(length - 8), 0);
    cases.push({ name: `small header length then ${length - 8} garbage bytes`, weights: junk });
  }
  // --- the header is not a JSON object
  for (const text of ['', '{', '{"a":', 'nan', 'null', '[]', '42', '"text"', 'true', '{"a": 1,}', "{'single': 'quotes'}"]) {
    weightsCase(`header text ${JSON.stringify(text)}`, text);
  }
  cases.push({ name: 'header that is not UTF-8', weights: (() => {
    const b = Buffer.from(weights);
    b[9] = 0xff;
    b[10] = 0xfe;
    return b;
  })() });
  weightsCase('deeply nested header', `{"x": ${'['.repeat(10_000)}${']'.repeat(10_000)}}`);
  // --- __metadata__
  for (const meta of [5, 'x', [], null, { format: 5 }, { format: { nested: 'x' } }, { format: null }]) {
    weightsCase(`__metadata__ = ${JSON.stringify(meta)}`, { ...structuredClone(header), __metadata__: meta });
  }
  // --- one entry's fields
  const t = first;
  const e = entry(t);
  const entryVariants: Array<[string, unknown]> = [
    ['null', null], ['a number', 5], ['a string', 'x'], ['a list', []],
    ['no dtype', { shape: e.shape, data_offsets: e.data_offsets }], ['dtype 5', { ...e, dtype: 5 }], ['dtype null', { ...e, dtype: null }],
    ['dtype I32', { ...e, dtype: 'I32' }], ['dtype U8', { ...e, dtype: 'U8' }], ['dtype F33', { ...e, dtype: 'F33' }],
    ['dtype ""', { ...e, dtype: '' }], ['dtype f32', { ...e, dtype: 'f32' }],
    ['dtype F16 with F32 offsets', { ...e, dtype: 'F16' }], ['dtype F64 with F32 offsets', { ...e, dtype: 'F64' }], ['dtype BF16 with F32 offsets', { ...e, dtype: 'BF16' }],
    ['no shape', { dtype: e.dtype, data_offsets: e.data_offsets }], ['shape "x"', { ...e, shape: 'x' }], ['shape null', { ...e, shape: null }],
    ['shape [-1]', { ...e, shape: [-1] }], ['shape [1.5]', { ...e, shape: [1.5] }], ['shape ["16"]', { ...e, shape: ['16'] }],
    ['shape [2^53 + 2]', { ...e, shape: [2 ** 53 + 2] }], ['shape [1e15, 1e15]', { ...e, shape: [1e15, 1e15] }], ['shape []', { ...e, shape: [] }],
    ['shape [0]', { ...e, shape: [0] }], ['shape with an extra 2', { ...e, shape: [...e.shape, 2] }],
    ['no data_offsets', { dtype: e.dtype, shape: e.shape }], ['data_offsets "x"', { ...e, data_offsets: 'x' }], ['data_offsets []', { ...e, data_offsets: [] }],
    ['data_offsets [0]', { ...e, data_offsets: [0] }], ['data_offsets of 3', { ...e, data_offsets: [0, 4, 8] }],
    ['data_offsets negative', { ...e, data_offsets: [-4, e.data_offsets[1] - 4] }], ['data_offsets begin > end', { ...e, data_offsets: [e.data_offsets[1], e.data_offsets[0]] }],
    ['data_offsets fractional', { ...e, data_offsets: [0.5, e.data_offsets[1] + 0.5] }], ['data_offsets strings', { ...e, data_offsets: e.data_offsets.map(String) }],
    ['data_offsets end past the data', { ...e, data_offsets: [e.data_offsets[0], data.length + 4] }],
    ['data_offsets far past the data', { ...e, data_offsets: [data.length + 1000, data.length + 1000 + e.data_offsets[1] - e.data_offsets[0]] }],
    ['data_offsets span one value short', { ...e, data_offsets: [e.data_offsets[0], e.data_offsets[1] - 4] }],
    ['data_offsets huge', { ...e, data_offsets: [0, 2 ** 53] }],
  ];
  for (const [what, value] of entryVariants) weightsCase(`${t}: ${what}`, withEntry(t, value));
  // The last tensor shifted past the end of the data section.
  const le = entry(last);
  weightsCase(`${last}: shifted past the end`, withEntry(last, { ...le, data_offsets: [le.data_offsets[0] + 4, le.data_offsets[1] + 4] }));
  // Overlapping tensors: one pointed at another's bytes, and one shifted into its predecessor.
  const span = (n: string) => entry(n).data_offsets[1] - entry(n).data_offsets[0];
  for (const [i, a] of byOffset.entries()) {
    const b = byOffset.slice(i + 1).find((n) => span(n) === span(a));
    if (b) {
      weightsCase(`${b} pointed at ${a}'s bytes`, withEntry(b, { ...entry(b), data_offsets: entry(a).data_offsets }));
      break;
    }
  }
  for (const n of byOffset.slice(1, 6)) {
    const ne = entry(n);
    weightsCase(`${n}: shifted 4 bytes into its predecessor`, withEntry(n, { ...ne, data_offsets: [ne.data_offsets[0] - 4, ne.data_offsets[1] - 4] }));
  }
  // A bad entry whose name would break the error line.
  weightsCase('bad entry named with a newline', withEntry('evil\nname', { dtype: 'I32', shape: [1], data_offsets: [0, 4] }));
  weightsCase('bad entry named with U+2028', withEntry('evil\u2028name', { dtype: 'F32', shape: [1], data_offsets: [0, 8] }));
  // --- the tensors against config.json
  for (const n of names) {
    const { [n]: _dropped, ...rest } = header;
    weightsCase(`missing tensor ${n}`, rest);
    const ne = entry(n);
    const variants: Array<[string, number[]]> = [['with a leading 1', [1, ...ne.shape]]];
    if (ne.shape.length > 1) variants.push(['flattened', [ne.shape.reduce((p, d) => p * d, 1)]]);
    if (ne.shape.length > 1 && ne.shape.join() !== [...ne.shape].reverse().join()) variants.push(['reversed', [...ne.shape].reverse()]);
    for (const [what, shape] of variants) weightsCase(`${n}: shape ${what} [${shape}]`, withEntry(n, { ...ne, shape }));
    // A valid file, but in another dtype: same bytes as F16 are twice the values.
    if (n === first || n === last) weightsCase(`${n}: F16 of twice the values`, withEntry(n, { ...ne, dtype: 'F16', shape: [ne.shape.reduce((p, d) => p * d, 1) * 2] }));
  }
  // --- config.json
  const configCase = (name: string, value: Json | string | Buffer) => cases.push({ name: `config: ${name}`, config: typeof value === 'string' || Buffer.isBuffer(value) ? value : JSON.stringify(value, null, 2) });
  for (const [name, text] of [
    ['empty', ''], ['garbage text', 'this is not json'], ['a list', '[]'], ['null', 'null'], ['a number', '42'], ['a string', '"vit"'],
    ['truncated', JSON.stringify(config).slice(0, 40)], ['NaN literal', JSON.stringify(config).replace(/"hidden_size":\s*16/, '"hidden_size": NaN')],
    ['trailing comma', JSON.stringify(config).replace(/}$/, ',}')], ['nested junk', `{"a": ${'['.repeat(50_000)}${']'.repeat(50_000)}}`],
  ] as const) configCase(name, text);
  configCase('binary garbage', garbageBytes(600, 512));
  cases.push({ name: 'config.json missing', config: 'missing' }, { name: 'config.json is a directory', config: 'directory' });
  cases.push({ name: 'model.safetensors missing', weights: 'missing' }, { name: 'model.safetensors is a directory', weights: 'directory' });
  const { model_type: _mt, ...noModelType } = config;
  configCase('model_type missing', noModelType);
  for (const v of ['bert', 5, null]) configCase(`model_type ${JSON.stringify(v)}`, { ...config, model_type: v });
  for (const v of ['relu', 5]) configCase(`hidden_act ${JSON.stringify(v)}`, { ...config, hidden_act: v });
  for (const key of ['hidden_size', 'num_hidden_layers', 'num_attention_heads', 'intermediate_size', 'image_size', 'patch_size', 'num_channels']) {
    const { [key]: _k, ...missing } = config;
    configCase(`${key} missing`, missing);
    for (const v of ['16', null, true, -1, 0, 1.5, 1e308, 1e7, [16], { a: 1 }]) configCase(`${key} = ${JSON.stringify(v)}`, { ...config, [key]: v });
  }
  configCase('num_hidden_layers one more than the file has', { ...config, num_hidden_layers: (config['num_hidden_layers'] as number) + 1 });
  configCase('hidden_size doubled', { ...config, hidden_size: (config['hidden_size'] as number) * 2 });
  configCase('hidden_size not divisible by heads', { ...config, hidden_size: (config['hidden_size'] as number) + 1 });
  configCase('image_size not divisible by patch_size', { ...config, image_size: (config['image_size'] as number) + 1 });
  for (const v of ['x', [], [32], [32, 0], [32, 1.5], [32, 32, 32], [32, 64], [-32, 32]]) configCase(`intermediate_sizes ${JSON.stringify(v)}`, { ...config, intermediate_sizes: v });
  // (null means "absent" in HF configs, so layer_norm_eps: null takes the default and is valid.)
  for (const v of [-1, 0, 'x', -1e-12]) configCase(`layer_norm_eps ${JSON.stringify(v)}`, { ...config, layer_norm_eps: v });
  configCase('id2label empty', { ...config, id2label: {} });
  configCase('id2label of 5 classes', { ...config, id2label: Object.fromEntries(Array.from({ length: 5 }, (_, i) => [String(i), `c${i}`])) });
  const { id2label: _ids, ...noLabels } = config;
  for (const v of [0, -3, 2.5, 'ten', 1e9]) configCase(`no id2label, num_labels ${JSON.stringify(v)}`, { ...noLabels, num_labels: v });
  return cases;
}
