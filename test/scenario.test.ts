import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parse, stringify } from 'yaml';
import { distillDataFor } from '../src/methods/distill-data.js';
import type { MethodContext } from '../src/methods/method.js';
import { distillOverlap } from '../src/scenario/distill-overlap.js';
import { loadScenario, parseScenario } from '../src/scenario/load.js';
import { SCHEMA_FILE, scenarioJsonSchemaText } from '../src/scenario/json-schema.js';
import { SCENARIO_DOCS_COMMAND, SCENARIO_DOCS_FILE, renderScenarioDocs, scenarioDocsText } from '../src/scenario/scenario-docs.js';
import { BUILTIN_METHOD_NAMES } from '../src/methods/registry.js';
import { scenarioJsonSchema } from '../src/methods/method-schema.js';
import { UserError } from '../src/util/errors.js';

const tmp = mkdtempSync(join(tmpdir(), 'fedpft-scenario-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

function modelDir(name: string, files = ['config.json', 'model.safetensors']): string {
  const dir = join(tmp, name);
  mkdirSync(dir, { recursive: true });
  for (const f of files) writeFileSync(join(dir, f), '{}');
  return dir;
}

const goodModel = modelDir('good-model');

const full = `
name: quickstart
seed: 42
model:
  dir: ${goodModel}
task:
  dataset: mnist
  trainLimit: 8000
  evalLimit: 2000
partition:
  family: dirichlet-per-class
  alpha: 0.5
  minSize: 20
federation:
  clients: 100
  clientsPerRound: 10
  rounds: 20
  localEpochs: 2
  batchSize: 32
  learningRate: 0.005
  schedule: constant
  weightDecay: 0
  aggregation: uniform
  evalEvery: 5
method:
  name: fedpetuning
  lora: { rank: 4, alpha: 8, dropout: 0 }
runtime:
  workers: 2
  backend: wasm
  devices:
    gpu: { slots: 2 }
`;

const minimal = `
seed: 0
model: { dir: ${goodModel} }
task: { dataset: fashion-mnist }
partition: { family: iid }
federation: { clients: 4, clientsPerRound: 2, rounds: 1, learningRate: 0.01 }
method: { name: fedpetuning }
`;

/** The minimal scenario with one dotted field replaced (undefined deletes it). */
function withField(dotted: string, value: unknown): string {
  const raw = parse(minimal) as Record<string, unknown>;
  const keys = dotted.split('.');
  let node = raw;
  for (const key of keys.slice(0, -1)) node = node[key] as Record<string, unknown>;
  const last = keys[keys.length - 1];
  if (value === undefined) delete node[last];
  else node[last] = value;
  return stringify(raw);
}

function failure(text: string, file = 'bad.yaml', checkFiles = true): UserError {
  try {
    parseScenario(text, file, { checkFiles });
  } catch (err) {
    expect(err).toBeInstanceOf(UserError);
    return err as UserError;
  }
  throw new Error('expected a UserError');
}

describe('parseScenario', () => {
  it('parses a full file with the right types', () => {
    const s = parseScenario(full, 'scenarios/full.yaml');
    expect(s.name).toBe('quickstart');
    expect(s.seed).toBe(42);
    expect(s.model.dir).toBe(goodModel);
    expect(s.task).toEqual({ dataset: 'mnist', trainLimit: 8000, evalLimit: 2000, maxLength: 128 });
    expect(s.partition).toEqual({ family: 'dirichlet-per-class', alpha: 0.5, minSize: 20 });
    expect(s.federation).toEqual({
      clients: 100,
      clientsPerRound: 10,
      rounds: 20,
      localEpochs: 2,
      batchSize: 32,
      learningRate: 0.005,
      schedule: 'constant',
      weightDecay: 0,
      maxGradNorm: 1,
      aggregation: 'uniform',
      evalEvery: 5,
    });
    expect(s.method).toEqual({ name: 'fedpetuning', lora: { rank: 4, alpha: 8, dropout: 0 }, head: 'auto' });
    expect(s.runtime).toEqual({ workers: 2, backend: 'wasm', kernels: 'auto', actors: 'threads', devices: { gpu: { slots: 2 } } });
  });

  it('fills defaults into a minimal file', () => {
    const s = parseScenario(minimal, '/some/where/mini.run.yaml');
    expect(s.name).toBe('mini.run');
    expect(s.partition).toEqual({ family: 'iid' });
    expect(s.federation).toMatchObject({
      localEpochs: 1,
      batchSize: 16,
      schedule: 'linear',
      weightDecay: 0.01,
      aggregation: 'weighted',
      evalEvery: 1,
    });
    expect(s.method).toEqual({ name: 'fedpetuning', lora: { rank: 8, alpha: 16, dropout: 0.1 }, head: 'auto' });
    expect(s.runtime).toEqual({ workers: availableParallelism(), backend: 'auto', kernels: 'auto', actors: 'threads' });
    expect(s.task.trainLimit).toBeUndefined();
  });

  it('gives dirichlet-per-class its default minSize', () => {
    const s = parseScenario(withField('partition', { family: 'dirichlet-per-class', alpha: 1 }), 'x.yaml');
    expect(s.partition).toEqual({ family: 'dirichlet-per-class', alpha: 1, minSize: 10 });
  });

  it('resolves a relative model dir against the working directory', () => {
    const s = parseScenario(withField('model.dir', 'models/vit'), 'x.yaml', { checkFiles: false });
    expect(s.model.dir).toBe(join(process.cwd(), 'models/vit'));
  });

  const bad: [string, string, string, RegExp][] = [
    ['malformed YAML', 'seed: [1, 2\nmodel: {', '', /invalid YAML at line \d+, column \d+: /],
    ['duplicate key', `${minimal}\nseed: 3\n`, '', /invalid YAML at line \d+, column \d+: .*unique/i],
    ['empty file', '', '', /expected a mapping, got null/],
    ['unknown top-level field', withField('foo', 1), 'foo', /unknown field "foo"/],
    ['unknown nested field', withField('federation.clientPerRound', 2), 'federation.clientPerRound', /unknown field/],
    ['unknown lora field', withField('method.lora', { rnak: 2 }), 'method.lora.rnak', /unknown field "rnak"/],
    ['wrong type', withField('federation.rounds', 'ten'), 'federation.rounds', /expected an integer >= 1, got "ten"/],
    ['not an integer', withField('seed', 1.5), 'seed', /expected an integer >= 0, got 1.5/],
    ['out of range', withField('federation.clientsPerRound', 0), 'federation.clientsPerRound', /expected an integer >= 1, got 0/],
    ['lora rank out of range', withField('method.lora', { rank: 0 }), 'method.lora.rank', /got 0/],
    ['dropout out of range', withField('method.lora', { dropout: 1 }), 'method.lora.dropout', /< 1, got 1/],
    ['clientsPerRound > clients', withField('federation.clientsPerRound', 200), 'federation.clientsPerRound', /must be <= federation.clients \(4\), got 200/],
    ['missing required field', withField('federation.learningRate', undefined), 'federation.learningRate', /missing required field, expected a number > 0/],
    ['missing section', withField('task', undefined), 'task', /missing required field, expected a mapping/],
    ['section not a mapping', withField('federation', [1, 2]), 'federation', /expected a mapping, got a list/],
    ['alpha given for iid', withField('partition.alpha', 1), 'partition.alpha', /only allowed for family dirichlet/],
    ['alpha missing for dirichlet', withField('partition', { family: 'dirichlet' }), 'partition.alpha', /missing required field, expected a number > 0/],
    ['unknown partition family', withField('partition', { family: 'dir', alpha: 1 }), 'partition.family', /expected one of iid \| dirichlet \| dirichlet-per-class, got "dir"/],
    ['unknown method name', withField('method', { name: 'fedsgd' }), 'method.name', /expected one of fedpetuning \| fedot \| fedpft \| fedpft-n \| fedpft-b \| fedpft-d, got "fedsgd"/],
    ['unknown dataset', withField('task.dataset', 'cifar1'), 'task.dataset', /expected one of mnist \| fashion-mnist \| spam \| sotu-party \| glue-sst2 .* \| cifar100, got "cifar1"/],
    ['unknown backend', withField('runtime', { backend: 'cuda' }), 'runtime.backend', /expected one of auto/],
    ['unknown device kind', withField('runtime', { devices: { tpu: { slots: 1 } } }), 'runtime.devices.tpu', /unknown field "tpu"/],
    ['unknown actor host', withField('runtime', { actors: 'cluster' }), 'runtime.actors', /expected one of threads \| processes \| broker/],
    ['broker without its section', withField('runtime', { actors: 'broker' }), 'runtime.broker', /needs runtime\.broker\.url/],
    ['broker section on threads', withField('runtime', { broker: { url: 'redis://127.0.0.1:6379' } }), 'runtime.broker', /only read with runtime\.actors: broker/],
    ['broker URL without a port', withField('runtime', { actors: 'broker', broker: { url: 'redis://localhost' } }), 'runtime.broker.url', /expected a Redis URL/],
    ['broker queue with a colon', withField('runtime', { actors: 'broker', broker: { url: 'redis://localhost:6379', queue: 'a:b' } }), 'runtime.broker.queue', /expected a queue name/],
    ['bad name', withField('name', 'my run'), 'name', /expected a name/],
    ['missing model dir', withField('model.dir', join(tmp, 'nope')), 'model.dir', /directory not found: .*nope/],
    ['model dir without config.json', withField('model.dir', modelDir('no-config', ['model.safetensors'])), 'model.dir', /missing config.json in /],
    ['model dir without weights', withField('model.dir', modelDir('no-weights', ['config.json'])), 'model.dir', /missing model.safetensors in /],
  ];

  it.each(bad)('rejects %s with one line naming the file and field', (_case, text, field, expected) => {
    const err = failure(text, 'scenarios/bad.yaml');
    expect(err.message).not.toContain('\n');
    expect(err.file).toBe('scenarios/bad.yaml');
    expect(err.field).toBe(field);
    expect(err.message.startsWith(field ? `scenarios/bad.yaml: ${field}: ` : 'scenarios/bad.yaml: ')).toBe(true);
    expect(err.expected).toMatch(expected);
  });

  it('skips the model dir check when asked', () => {
    const s = parseScenario(withField('model.dir', join(tmp, 'nope')), 'x.yaml', { checkFiles: false });
    expect(s.model.dir).toBe(join(tmp, 'nope'));
  });
});

describe('loadScenario', () => {
  it('reads a file and names the scenario after it', async () => {
    const file = join(tmp, 'from-disk.yaml');
    writeFileSync(file, minimal);
    expect((await loadScenario(file)).name).toBe('from-disk');
  });

  it('reports a missing file', async () => {
    const file = join(tmp, 'absent.yaml');
    await expect(loadScenario(file)).rejects.toThrow(new UserError(file, '', 'file not found'));
  });
});

describe('scenarioJsonSchema', () => {
  const schema = scenarioJsonSchema() as {
    additionalProperties: boolean;
    properties: Record<string, { properties: Record<string, unknown>; additionalProperties: boolean }>;
  };

  it('describes the federation section and rejects additional properties', () => {
    expect(schema.additionalProperties).toBe(false);
    const federation = schema.properties.federation;
    expect(Object.keys(federation.properties)).toEqual(
      expect.arrayContaining(['clients', 'clientsPerRound', 'rounds', 'learningRate', 'evalEvery']),
    );
    expect(federation.additionalProperties).toBe(false);
  });

  it('does not bake this machine into the file', () => {
    expect(schema.properties.runtime.properties.workers).not.toHaveProperty('default');
  });

  it('matches the committed scenarios/scenario.schema.json', () => {
    expect(readFileSync(SCHEMA_FILE, 'utf8'), `${SCHEMA_FILE} is out of date: regenerate it with npx tsc -p tsconfig.json && node dist/src/scenario/json-schema.js`).toBe(scenarioJsonSchemaText());
  });
});

describe('docs/SCENARIOS.md', () => {
  const text = scenarioDocsText();
  /** The table cells of the row for a dotted field, in every table that has it. */
  function rows(field: string): string[][] {
    return text
      .split('\n')
      .filter((l) => l.startsWith(`| \`${field}\` |`))
      .map((l) => l.split(/(?<!\\)\|/).slice(1, -1).map((c) => c.trim()));
  }

  it('matches the committed docs/SCENARIOS.md', () => {
    expect(readFileSync(SCENARIO_DOCS_FILE, 'utf8'), `${SCENARIO_DOCS_FILE} is out of date: regenerate it with ${SCENARIO_DOCS_COMMAND}`).toBe(text);
  });

  it('says how it is generated', () => {
    expect(text.split('\n')[2]).toMatch(/^Generated from the scenario schema .* by `npm run docs:scenarios`; do not edit it by hand\.$/);
  });

  it('has a row for every field of every variant, with its default and description', () => {
    type Node = { properties?: Record<string, Node>; oneOf?: Node[]; default?: unknown; description?: string; not?: object };
    const fields: [string, Node][] = [];
    const walk = (node: Node, path: string) => {
      for (const variant of node.oneOf ?? [node]) {
        for (const [key, child] of Object.entries(variant.properties ?? {})) {
          const at = path ? `${path}.${key}` : key;
          if (child.not) continue;
          // A top-level mapping is a section of its own rather than a row.
          if (path === '' && (child.properties || child.oneOf)) expect(text).toContain(`\n## ${key}\n`);
          else fields.push([at, child]);
          walk(child, at);
        }
      }
    };
    walk(scenarioJsonSchema() as Node, '');
    expect(fields.length).toBeGreaterThan(60);
    for (const [field, node] of fields) {
      const found = rows(field);
      expect(found.length, field).toBeGreaterThan(0);
      for (const [, , shown, description] of found) {
        if (node.default !== undefined) expect(shown, field).toBe(`\`${typeof node.default === 'string' ? node.default : JSON.stringify(node.default)}\``);
        // Descriptions are Markdown-escaped; a trailing "default: ..." moves to the Default column.
        const plain = `${shown} ${description}`.replace(/\\(.)/g, '$1');
        for (const part of (node.description ?? '').split(/(?:^|;\s*)default: /)) expect(plain, field).toContain(part);
      }
    }
  });

  it('lists each method name and partition family, and the fields a family does not allow', () => {
    for (const name of BUILTIN_METHOD_NAMES) expect(text).toMatch(new RegExp(`^### name: .*\`${name}\``, 'm'));
    for (const family of ['iid', 'dirichlet', 'dirichlet-per-class']) expect(text).toContain(`### family: \`${family}\``);
    expect(text).toContain('Not allowed with family `iid`: `partition.alpha`, `partition.minSize`.');
    expect(rows('method.distill.mu')[0]?.[3]).toBe("weight of the \\|\\|W1 W2 - W1' W2'\\|\\|^2 term; 0 reproduces the reference code");
  });

  it("gives runtime.workers' default in words, not this machine's core count", () => {
    expect(rows('runtime.workers')).toEqual([['`runtime.workers`', 'integer ≥ 1', 'the number of CPU cores', 'worker threads']]);
  });

  it('refuses a JSON Schema keyword it does not render instead of leaving it out', () => {
    const schema = { type: 'object', properties: { seed: { $ref: '#/$defs/seed' } } };
    expect(() => renderScenarioDocs(schema)).toThrow(/seed has JSON Schema keyword "\$ref"/);
  });
});

describe('method.distill.dataset: not the clients\' own data', () => {
  const cifarFiles = { train: join(tmp, 'data_batch_1.bin'), validation: join(tmp, 'test_batch.bin') };
  /** The minimal scenario with task.dataset and a distilling method (distill left out: its default, fashion-mnist). */
  function distilling(dataset: string, distill: string | undefined, method: 'fedpft' | 'fedot' | 'fedpft-n' = 'fedpft'): string {
    const raw = parse(minimal) as Record<string, unknown>;
    raw['task'] = { dataset, ...(dataset.startsWith('cifar') ? { files: cifarFiles } : {}) };
    raw['method'] = { name: method, ...(distill === undefined ? {} : { distill: { dataset: distill } }) };
    return stringify(raw);
  }

  const refused: [string, string, string | undefined, RegExp][] = [
    ['an image task', 'mnist', 'mnist', /^"mnist" is the task's dataset, the clients' private data; expected data from the FM's pretraining domain apart from it, e\.g\. fashion-mnist$/],
    ['the default for a fashion-mnist task', 'fashion-mnist', undefined, /^"fashion-mnist" is the task's dataset, .*e\.g\. mnist$/],
    ['a text task', 'spam', 'spam', /^"spam" is the task's dataset, the clients' private data; .*, e\.g\. moby-dick or sotu$/],
    ['sotu-party', 'sotu-party', 'sotu-party', /^"sotu-party" is the task's dataset, .*e\.g\. moby-dick$/],
    ['the sotu corpus for sotu-party (it holds sotu-party\'s training split)', 'sotu-party', 'sotu', /^"sotu" contains sotu-party's training split, the clients' private data; .*, e\.g\. moby-dick$/],
    ['a task read from the user\'s files', 'cifar10', 'cifar10', /^"cifar10" is the task's dataset, the clients' private data; expected data from the FM's pretraining domain apart from it$/],
  ];

  it.each(refused)('refuses distilling on %s with one line naming the file and field', (_case, dataset, distill, expected) => {
    for (const method of ['fedpft', 'fedot', 'fedpft-n'] as const) {
      const err = failure(distilling(dataset, distill, method), 'scenarios/leak.yaml');
      expect(err.message).not.toContain('\n');
      expect(err.file).toBe('scenarios/leak.yaml');
      expect(err.field).toBe('method.distill.dataset');
      expect(err.message.startsWith('scenarios/leak.yaml: method.distill.dataset: ')).toBe(true);
      expect(err.expected).toMatch(expected);
    }
  });

  it.each([
    ['mnist', 'fashion-mnist'],
    ['mnist', undefined],
    ['fashion-mnist', 'mnist'],
    ['spam', 'sotu'],
    ['spam', 'moby-dick'],
    ['sotu-party', 'moby-dick'],
    ['glue-sst2', 'sotu'],
  ])('accepts task %s with distill dataset %s', (dataset, distill) => {
    const raw = parse(distilling(dataset, distill)) as { task: Record<string, unknown> };
    if (dataset.startsWith('glue')) raw.task['files'] = { train: join(tmp, 'train.tsv'), validation: join(tmp, 'dev.tsv') };
    const s = parseScenario(stringify(raw), 'ok.yaml');
    expect((s.method['distill'] as { dataset: string }).dataset).toBe(distill ?? 'fashion-mnist');
  });

  it('leaves methods without distillation alone (FedPETuning on fashion-mnist)', () => {
    expect(parseScenario(minimal, 'ok.yaml').task.dataset).toBe('fashion-mnist');
  });

  it('reports the first other problem instead when the file has one', () => {
    const raw = parse(distilling('mnist', 'mnist')) as { federation: Record<string, unknown> };
    raw.federation['rounds'] = 0;
    expect(failure(stringify(raw)).field).toBe('federation.rounds');
  });

  it('distillDataFor refuses it too, for a Scenario built in code', () => {
    const scenario = parseScenario(distilling('mnist', 'fashion-mnist'), 'ok.yaml');
    const ctx = { scenario: { ...scenario, task: { ...scenario.task, dataset: 'fashion-mnist' } } } as unknown as MethodContext;
    expect(() => distillDataFor({ dataset: 'fashion-mnist', examples: 10 }, ctx)).toThrow(
      new UserError('scenario', 'method.distill.dataset', distillOverlap('fashion-mnist', 'fashion-mnist') as string),
    );
  });
});
