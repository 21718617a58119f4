/**
 * Grids of runs for `fedpft ablate` and `fedpft sweep`: a base scenario, axes of dotted fields
 * with typed values (`--set method.interval=5,10,20`), and K seeds (scenario.seed + i). Every
 * grid point is validated through the scenario schema before anything runs, so a bad value is
 * one UserError line naming the dotted field.
 */
import { parse as parseYamlValue, parseDocument, stringify as stringifyYaml } from 'yaml';
import { methodModuleOf, parseScenario, readScenarioText } from '../scenario/load.js';
import type { Scenario } from '../scenario/schema.js';
import type { MethodDefinition } from '../methods/define.js';
import { BUILTIN_METHODS } from '../methods/registry.js';
import { UserError } from '../util/errors.js';

/** One dimension of a grid: a dotted scenario field and the values it takes. */
export interface Axis {
  /** Dotted path into the scenario file, e.g. `partition.alpha`; `method.name` switches method. */
  field: string;
  values: unknown[];
}

/** One run of a grid. */
export interface GridPoint {
  /** `<scenario>__<label>=<value>__...__seed=<seed>`; also the run's directory name. */
  name: string;
  /** The axis values of this point, by label (`method` for method.name, else the dotted field). */
  settings: Record<string, unknown>;
  seed: number;
  /** Validated, defaults applied; its `name` is still the base scenario's. */
  scenario: Scenario;
}

export interface GridSpec {
  /** The scenario file the grid is built on. */
  file: string;
  base: Scenario;
  axes: Axis[];
  seeds: number;
  points: GridPoint[];
}

/** Where the values of a grid came from, for error messages. */
type Origin = string;

const FIELD = /^[A-Za-z_][A-Za-z0-9_-]*(\.[A-Za-z0-9_-]+)*$/;
/** Keys that would reach Object.prototype instead of the scenario; no scenario field has them. */
const UNSAFE_KEYS = new Set(['__proto__', 'constructor', 'prototype']);

function checkField(field: string): boolean {
  return FIELD.test(field) && !field.split('.').some((k) => UNSAFE_KEYS.has(k));
}
export const NAME = /^[A-Za-z0-9._-]+$/;

/** The label an axis has in run names and settings. */
export function axisLabel(field: string): string {
  return field === 'method.name' ? 'method' : field;
}

/**
 * `field=v1,v2,...` from the command line. Values are YAML scalars or flow collections
 * (`5`, `0.5`, `true`, `fashion-mnist`, `[0, 3]`); commas inside brackets or quotes do not split.
 */
export function parseSetOption(spec: string): Axis {
  const eq = spec.indexOf('=');
  if (eq < 0) throw new UserError('--set', '', `expected field=value[,value...], got ${JSON.stringify(spec)}`);
  const field = spec.slice(0, eq).trim();
  if (!checkField(field)) throw new UserError('--set', '', `expected a dotted field name such as partition.alpha, got ${JSON.stringify(field)}`);
  const text = spec.slice(eq + 1);
  const values = splitValues(text).map((item) => {
    if (item.trim() === '') throw new UserError('--set', field, `empty value in ${JSON.stringify(text)}`);
    try {
      return parseYamlValue(item) as unknown;
    } catch (err) {
      throw new UserError('--set', field, `cannot read value ${JSON.stringify(item)}: ${(err as Error).message.split('\n')[0]}`);
    }
  });
  return { field, values };
}

function splitValues(text: string): string[] {
  const items: string[] = [];
  let depth = 0;
  let quote: string | null = null;
  let start = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text[i] as string;
    if (quote) {
      if (c === quote) quote = null;
    } else if (c === '"' || c === "'") quote = c;
    else if (c === '[' || c === '{') depth++;
    else if (c === ']' || c === '}') depth--;
    else if (c === ',' && depth === 0) {
      items.push(text.slice(start, i));
      start = i + 1;
    }
  }
  items.push(text.slice(start));
  return items;
}

/** Later axes replace earlier ones of the same field (the command line over the file). */
export function mergeAxes(...lists: Axis[][]): Axis[] {
  const out: Axis[] = [];
  for (const axis of lists.flat()) {
    const at = out.findIndex((a) => axisLabel(a.field) === axisLabel(axis.field));
    if (at >= 0) out[at] = axis;
    else out.push(axis);
  }
  return out;
}

/** A scenario file as written, and its optional `sweep:` section (which only `fedpft sweep` reads). */
export interface ScenarioSource {
  file: string;
  raw: Record<string, unknown>;
  sweep: { axes: Axis[]; seeds?: number; name?: string };
  /** The definitions of its method module (method.module), imported once for every point. */
  methods: readonly MethodDefinition[];
}

export async function readScenarioSource(file: string): Promise<ScenarioSource> {
  const text = readScenarioText(file);
  let raw: unknown;
  try {
    const doc = parseDocument(text);
    // parseScenario throws here, wording YAML errors as the rest of the project does.
    if (doc.errors.length > 0) parseScenario(text, file);
    raw = doc.toJS();
  } catch (err) {
    if (err instanceof UserError) throw err;
    parseScenario(text, file);
    throw err;
  }
  // Not a mapping: parseScenario throws its "expected a mapping".
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) parseScenario(text, file);
  const { sweep, ...rest } = raw as Record<string, unknown>;
  return { file, raw: rest, sweep: readSweepSection(file, sweep), methods: await methodModuleOf(rest, file) };
}

function readSweepSection(file: string, sweep: unknown): ScenarioSource['sweep'] {
  if (sweep === undefined || sweep === null) return { axes: [] };
  if (typeof sweep !== 'object' || Array.isArray(sweep)) throw new UserError(file, 'sweep', 'expected a mapping with set, seeds and name');
  const out: ScenarioSource['sweep'] = { axes: [] };
  for (const [key, value] of Object.entries(sweep as Record<string, unknown>)) {
    if (key === 'seeds') {
      if (!Number.isInteger(value) || (value as number) < 1) throw new UserError(file, 'sweep.seeds', `expected an integer >= 1, got ${JSON.stringify(value)}`);
      out.seeds = value as number;
    } else if (key === 'name') {
      if (typeof value !== 'string' || !NAME.test(value)) throw new UserError(file, 'sweep.name', 'expected a name made of letters, digits, ".", "_" and "-"');
      out.name = value;
    } else if (key === 'set') {
      if (value === null || typeof value !== 'object' || Array.isArray(value)) throw new UserError(file, 'sweep.set', 'expected a mapping of dotted fields to lists of values');
      for (const [field, values] of Object.entries(value as Record<string, unknown>)) {
        if (!checkField(field)) throw new UserError(file, `sweep.set`, `expected a dotted field name such as partition.alpha, got ${JSON.stringify(field)}`);
        const list = Array.isArray(values) ? values : [values];
        if (list.length === 0) throw new UserError(file, `sweep.set.${field}`, 'expected at least one value');
        out.axes.push({ field, values: list });
      }
    } else {
      throw new UserError(file, `sweep.${key}`, `unknown field ${JSON.stringify(key)}; expected set, seeds or name`);
    }
  }
  return out;
}

function clone<T>(value: T): T {
  return structuredClone(value);
}

/**
 * Another method for the same scenario: the new method keeps the fields of the old one that it
 * also has (lora and distill always; keep, interval, proportion, ... between FedPFT variants) and
 * takes schema defaults for the rest.
 */
export function switchMethod(rawMethod: unknown, name: unknown, user: readonly MethodDefinition[] = []): unknown {
  const target = [...BUILTIN_METHODS, ...user].find((d) => d.name === name);
  // An unknown name is left for the schema to reject with the list of valid ones.
  if (!target || rawMethod === null || typeof rawMethod !== 'object' || Array.isArray(rawMethod)) return { ...(typeof rawMethod === 'object' && rawMethod !== null ? rawMethod : {}), name };
  const keys = ['module', ...Object.keys(target.options)];
  const kept = Object.entries(rawMethod as Record<string, unknown>).filter(([k]) => k !== 'name' && keys.includes(k));
  return { name, ...Object.fromEntries(kept.map(([k, v]) => [k, clone(v)])) };
}

/** Sets a dotted field in a raw scenario; missing mappings on the way are created (the schema then names an unknown one). */
export function setField(raw: Record<string, unknown>, field: string, value: unknown, origin: Origin, user: readonly MethodDefinition[] = []): void {
  if (field === 'method.name') {
    raw['method'] = switchMethod(raw['method'], value, user);
    return;
  }
  const path = field.split('.');
  let node: Record<string, unknown> = raw;
  for (let i = 0; i < path.length - 1; i++) {
    const key = path[i] as string;
    const next = node[key];
    if (next === undefined || next === null) node[key] = {};
    else if (typeof next !== 'object' || Array.isArray(next)) throw new UserError(origin, field, `${path.slice(0, i + 1).join('.')} is not a mapping`);
    node = node[key] as Record<string, unknown>;
  }
  node[path[path.length - 1] as string] = clone(value);
}

/** A value as it appears in a run name: letters, digits, ".", "_", "-" and nothing else. */
function nameValue(value: unknown): string {
  const text = typeof value === 'string' ? value : JSON.stringify(value);
  return text.replace(/[^A-Za-z0-9._-]+/g, '_');
}

/**
 * All points of the grid (the axes' product, seeds innermost), each validated. `origin` names
 * where the axes came from (`--set`, `--methods`) in errors about their values.
 */
export function expandGrid(source: ScenarioSource, axes: Axis[], seeds: number, originOf: (field: string) => Origin): GridSpec {
  const base = parseScenario(stringifyYaml(source.raw), source.file, { methods: source.methods });
  for (const axis of axes) if (axis.values.length === 0) throw new UserError(originOf(axis.field), axis.field, 'expected at least one value');
  let combos: Array<Array<[Axis, unknown]>> = [[]];
  for (const axis of axes) combos = combos.flatMap((c) => axis.values.map((v) => [...c, [axis, v] as [Axis, unknown]]));
  const points: GridPoint[] = [];
  const names = new Map<string, string>();
  for (const combo of combos) {
    const raw = clone(source.raw);
    for (const [axis, value] of combo) setField(raw, axis.field, value, originOf(axis.field), source.methods);
    // The seed axis applies to whatever seed the point has (a --set seed=... included).
    const first = validate(source, raw, combo, originOf);
    for (let i = 0; i < seeds; i++) {
      const seed = first.seed + i;
      const scenario = i === 0 ? first : validate(source, { ...raw, seed }, combo, originOf);
      const settings = Object.fromEntries(combo.map(([axis, value]) => [axisLabel(axis.field), value]));
      // A seed axis shows as the run's seed, which every name ends with.
      const labelled = combo.filter(([axis]) => axis.field !== 'seed');
      const name = [base.name, ...labelled.map(([axis, value]) => `${axisLabel(axis.field)}=${nameValue(value)}`), `seed=${seed}`].join('__');
      const shown = JSON.stringify({ ...settings, seed });
      const clash = names.get(name);
      if (clash !== undefined) throw new UserError('grid', '', `two grid points make the same run ${name} (${clash} and ${shown}); make the values or seeds differ`);
      names.set(name, shown);
      points.push({ name, settings, seed, scenario });
    }
  }
  return { file: source.file, base, axes, seeds, points };
}

function validate(source: ScenarioSource, raw: Record<string, unknown>, combo: Array<[Axis, unknown]>, originOf: (field: string) => Origin): Scenario {
  const { file } = source;
  try {
    return parseScenario(stringifyYaml(raw), file, { methods: source.methods });
  } catch (err) {
    if (!(err instanceof UserError)) throw err;
    // Name the axis whose value is at fault when the error is about its field.
    const owner = combo.find(([axis]) => axis.field !== 'method.name' && (err.field === axis.field || err.field.startsWith(`${axis.field}.`)));
    if (owner) throw new UserError(originOf(owner[0].field), err.field, err.expected);
    const point = combo.map(([axis, value]) => `${axisLabel(axis.field)}=${nameValue(value)}`).join(' ');
    throw new UserError(point ? `${originOf(combo[0]?.[0].field ?? '')} (${point})` : file, err.field, err.expected);
  }
}
