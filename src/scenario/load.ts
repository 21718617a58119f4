/**
 * Reads a scenario file into a typed Scenario. This is the edge: every problem becomes one
 * UserError line naming the file, the dotted field and what was expected; no YAML or zod
 * exception gets past it.
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { basename, dirname, extname, join, resolve } from 'node:path';
import { parseDocument } from 'yaml';
import type { z } from 'zod';
import { UserError } from '../util/errors.js';
import type { MethodDefinition } from '../methods/define.js';
import { scenarioSchemaWith } from '../methods/method-schema.js';
import { importMethodModule, MethodModuleError } from '../methods/user-module.js';
import type { PartitionSpec } from '../data/partition.js';
import type { MethodOptions, Scenario } from './schema.js';

const MODEL_FILES = ['config.json', 'model.safetensors'];

/** A scenario file's text; a missing or unreadable file is a one-line UserError. */
export function readScenarioText(file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new UserError(file, '', 'file not found');
    if (code === 'EISDIR') throw new UserError(file, '', 'is a directory, expected a YAML file');
    throw new UserError(file, '', `cannot read: ${(err as Error).message}`);
  }
}

export async function loadScenario(file: string): Promise<Scenario> {
  const text = readScenarioText(file);
  return parseScenario(text, file, { methods: await methodModuleOf(parseYaml(text, file), file) });
}

/** The module a raw scenario's `method.module` names, resolved from the scenario file's directory. */
function modulePath(raw: unknown, file: string): string | undefined {
  const method = valueAt(raw, ['method']);
  const module = valueAt(method, ['module']);
  return typeof module === 'string' && module.length > 0 ? resolve(dirname(resolve(file)), module) : undefined;
}

/**
 * Imports the method module a raw scenario names (none: no definitions). Its definitions then
 * validate the scenario's method section like a built-in's.
 */
export async function methodModuleOf(raw: unknown, file: string): Promise<readonly MethodDefinition[]> {
  const path = modulePath(raw, file);
  if (path === undefined) return [];
  try {
    return await importMethodModule(path);
  } catch (err) {
    if (err instanceof MethodModuleError) throw new UserError(file, 'method.module', oneLine(err.message));
    throw err;
  }
}

export interface ParseOptions {
  /** Check that model.dir holds a model (default true). */
  checkFiles?: boolean;
  /** The definitions of the scenario's method module (methodModuleOf); built-in methods need none. */
  methods?: readonly MethodDefinition[];
}

export function parseScenario(text: string, file: string, opts: ParseOptions = {}): Scenario {
  const raw = parseYaml(text, file);
  const module = modulePath(raw, file);
  const methods = opts.methods ?? [];
  if (module !== undefined && methods.length === 0) throw new UserError(file, 'method.module', 'a method module is imported before parsing (loadScenario, or methodModuleOf then parseScenario)');
  const result = scenarioSchemaWith(methods).safeParse(raw);
  if (!result.success) throw issueError(file, raw, result.error.issues);
  const parsed = result.data;
  const scenario: Scenario = {
    ...parsed,
    method: { ...(parsed.method as MethodOptions), ...(module === undefined ? {} : { module }) },
    // The schema's union is built from the registered families, so its static type only knows a family name.
    partition: parsed.partition as PartitionSpec,
    name: parsed.name ?? basename(file, extname(file)),
    model: { ...parsed.model, dir: resolve(parsed.model.dir) },
    task: {
      ...parsed.task,
      ...(parsed.task.files
        ? {
            files: {
              train: Array.isArray(parsed.task.files.train) ? parsed.task.files.train.map((f) => resolve(f)) : resolve(parsed.task.files.train),
              validation: resolve(parsed.task.files.validation),
            },
          }
        : {}),
    },
  };
  if (opts.checkFiles ?? true) checkModelDir(file, scenario.model.dir);
  return scenario;
}

/**
 * The YAML parser recurses once per nesting level, and near the stack limit V8 can abort the
 * whole process (a fatal out-of-memory in its regexp compiler) instead of throwing, e.g. on
 * 16 KB of "{". A scenario nests a few levels, so anything deep is refused before parsing:
 * a line's leading indentation and block indicators plus the open flow brackets.
 */
const MAX_NESTING = 200;

/** Real scenarios are a few KB; the YAML parser takes quadratic time on many keys (25 s for 64k). */
const MAX_CHARS = 100_000;

function checkNesting(text: string, file: string): void {
  let flow = 0;
  let line = 1;
  let lead = 0;
  let leading = true;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === '\n') {
      line++;
      lead = 0;
      leading = true;
      continue;
    }
    if (leading && (c === ' ' || c === '\t' || c === '-' || c === '?' || c === ':')) lead++;
    else leading = false;
    if (c === '[' || c === '{') flow++;
    else if ((c === ']' || c === '}') && flow > 0) flow--;
    if (lead + flow > MAX_NESTING) throw new UserError(file, '', `invalid YAML at line ${line}: nested too deeply (over ${MAX_NESTING} levels)`);
  }
}

export function parseYaml(text: string, file: string): unknown {
  if (text.length > MAX_CHARS) throw new UserError(file, '', `${text.length} characters, more than a scenario file may have (${MAX_CHARS})`);
  checkNesting(text, file);
  try {
    const doc = parseDocument(text);
    const [error] = doc.errors;
    if (error) {
      // The library's message continues with a multi-line source excerpt; keep the first line.
      const reason = error.message.split('\n')[0].replace(/ at line \d+, column \d+:?$/, '');
      const pos = error.linePos?.[0];
      const where = pos ? ` at line ${pos.line}, column ${pos.col}` : '';
      throw new UserError(file, '', `invalid YAML${where}: ${reason}`);
    }
    return doc.toJS();
  } catch (err) {
    if (err instanceof UserError) throw err;
    // toJS can still throw, e.g. on an alias bomb.
    throw new UserError(file, '', `invalid YAML: ${(err as Error).message.split('\n')[0]}`);
  }
}

function issueError(file: string, raw: unknown, issues: z.core.$ZodIssue[]): UserError {
  // A misspelt key also shows up as the correct key "missing"; the unknown key is the cause.
  const issue = issues.find((i) => i.code === 'unrecognized_keys') ?? issues[0];
  const path = issue.path.map(String);
  if (issue.code === 'unrecognized_keys') {
    const [key] = issue.keys;
    return new UserError(file, [...path, oneLine(key)].join('.'), `unknown field ${quote(key)}`);
  }
  const field = path.join('.');
  if (!issue.message.startsWith('expected')) return new UserError(file, field, issue.message);
  const value = valueAt(raw, path);
  if (value === undefined) return new UserError(file, field, `missing required field, ${issue.message}`);
  return new UserError(file, field, `${issue.message}, got ${show(value)}`);
}

function valueAt(raw: unknown, path: string[]): unknown {
  let value = raw;
  for (const key of path) {
    if (value === null || typeof value !== 'object') return undefined;
    value = (value as Record<string, unknown>)[key];
  }
  return value;
}

function show(value: unknown): string {
  if (Array.isArray(value)) return 'a list';
  if (value !== null && typeof value === 'object') return 'a mapping';
  if (typeof value === 'number') return String(value); // JSON would print NaN and Infinity as null
  const text = typeof value === 'string' ? quote(value) : JSON.stringify(value);
  return text.length > 60 ? `${text.slice(0, 57)}..."` : text;
}

/** JSON quoting, plus U+2028 and U+2029, which JSON.stringify leaves as they are, so the result is one line. */
function quote(text: string): string {
  return JSON.stringify(text).replace(/\u2028/g, '\\u2028').replace(/\u2029/g, '\\u2029');
}

/** Keys and paths come from the file; quote any with line breaks or control characters to keep the error on one line. */
function oneLine(text: string): string {
  // eslint-disable-next-line no-control-regex
  return /[\u0000-\u001f\u007f\u2028\u2029]/.test(text) ? quote(text) : text;
}

function checkModelDir(file: string, dir: string): void {
  const shown = oneLine(dir);
  let isDir: boolean;
  try {
    isDir = statSync(dir).isDirectory();
  } catch {
    throw new UserError(file, 'model.dir', `directory not found: ${shown}`);
  }
  if (!isDir) throw new UserError(file, 'model.dir', `not a directory: ${shown}`);
  for (const name of MODEL_FILES) {
    if (!existsSync(join(dir, name))) throw new UserError(file, 'model.dir', `missing ${name} in ${shown}`);
  }
}
