/**
 * Writes docs/SCENARIOS.md, the reference of every scenario field, from the same JSON Schema as
 * scenarios/scenario.schema.json (scenarioJsonSchema(): types, ranges, allowed values, defaults
 * and the .describe() texts of src/scenario/schema.ts). A JSON Schema keyword this file does not
 * know is an error, so a new kind of field cannot be left out of the page silently.
 * Run from the repository root: node dist/src/scenario/scenario-docs.js [output path]
 */
import { writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { scenarioJsonSchema } from '../methods/method-schema.js';

export const SCENARIO_DOCS_FILE = 'docs/SCENARIOS.md';
export const SCENARIO_DOCS_COMMAND = 'npm run docs:scenarios';

/** The part of JSON Schema that z.toJSONSchema writes for the scenario schema. */
interface Node {
  $schema?: string;
  type?: 'object' | 'array' | 'string' | 'number' | 'integer' | 'boolean' | 'null';
  description?: string;
  default?: unknown;
  enum?: unknown[];
  const?: unknown;
  minimum?: number;
  maximum?: number;
  exclusiveMinimum?: number;
  exclusiveMaximum?: number;
  minLength?: number;
  maxLength?: number;
  pattern?: string;
  items?: Node;
  minItems?: number;
  maxItems?: number;
  properties?: Record<string, Node>;
  required?: string[];
  additionalProperties?: boolean;
  anyOf?: Node[];
  oneOf?: Node[];
  not?: Node;
}

const KNOWN = new Set([
  '$schema', 'type', 'description', 'default', 'enum', 'const', 'minimum', 'maximum', 'exclusiveMinimum', 'exclusiveMaximum',
  'minLength', 'maxLength', 'pattern', 'items', 'minItems', 'maxItems', 'properties', 'required', 'additionalProperties', 'anyOf', 'oneOf', 'not',
]);

function check(node: Node, path: string): void {
  for (const key of Object.keys(node)) {
    if (!KNOWN.has(key)) throw new Error(`scenario-docs: ${path || '(root)'} has JSON Schema keyword "${key}", which this generator does not render`);
  }
}

/** Markdown-escaped prose for a table cell. */
function prose(text: string): string {
  return text.replace(/[\\`*_<|]/g, (c) => `\\${c}`).replace(/\s*\n\s*/g, ' ');
}

/** A value as inline code (in a table cell, "|" must be escaped even inside code). */
function code(value: unknown): string {
  const text = typeof value === 'string' ? value : JSON.stringify(value);
  return `\`${text.replace(/\|/g, '\\|')}\``;
}

/** A mapping's fields without `key` (a union's tag). */
function without(fields: Record<string, Node> | undefined, key: string): Record<string, Node> {
  return Object.fromEntries(Object.entries(fields ?? {}).filter(([k]) => k !== key));
}

const isForbidden = (node: Node) => node.not !== undefined && Object.keys(node.not).length === 0;

/** zod writes Number.MAX_SAFE_INTEGER as every integer's maximum: not a limit a reader needs. */
function upperBound(node: Node): [number, boolean] | null {
  if (node.exclusiveMaximum !== undefined) return [node.exclusiveMaximum, false];
  if (node.maximum !== undefined && !(node.type === 'integer' && node.maximum >= Number.MAX_SAFE_INTEGER)) return [node.maximum, true];
  return null;
}

function lowerBound(node: Node): [number, boolean] | null {
  if (node.exclusiveMinimum !== undefined) return [node.exclusiveMinimum, false];
  if (node.minimum !== undefined && !(node.type === 'integer' && node.minimum <= Number.MIN_SAFE_INTEGER)) return [node.minimum, true];
  return null;
}

function numberType(node: Node): string {
  const lo = lowerBound(node);
  const hi = upperBound(node);
  const base = node.type === 'integer' ? 'integer' : 'number';
  if (lo && hi) return `${base} in ${lo[1] ? '[' : '('}${lo[0]}, ${hi[0]}${hi[1] ? ']' : ')'}`;
  if (lo) return `${base} ${lo[1] ? '≥' : '>'} ${lo[0]}`;
  if (hi) return `${base} ${hi[1] ? '≤' : '<'} ${hi[0]}`;
  return base;
}

function stringType(node: Node): string {
  const parts = [node.minLength === 1 ? 'non-empty string' : 'string'];
  if (node.minLength !== undefined && node.minLength > 1) parts.push(`of at least ${node.minLength} characters`);
  if (node.maxLength !== undefined) parts.push(`of at most ${node.maxLength} characters`);
  if (node.pattern !== undefined) parts.push(`matching ${code(node.pattern)}`);
  return parts.join(' ');
}

/** "Type / allowed values" of a field that is not a mapping with fields of its own. */
function typeOf(node: Node, path: string): string {
  check(node, path);
  if (node.enum) return `one of ${node.enum.map(code).join(', ')}`;
  if (node.const !== undefined) return code(node.const);
  const alternatives = node.anyOf ?? node.oneOf;
  if (alternatives) return alternatives.map((n) => typeOf(n, path)).join(', or ');
  switch (node.type) {
    case 'integer':
    case 'number':
      return numberType(node);
    case 'string':
      return stringType(node);
    case 'boolean':
      return '`true` or `false`';
    case 'null':
      return '`null`';
    case 'array': {
      if (!node.items) throw new Error(`scenario-docs: ${path} is a list without items`);
      const count = [node.minItems !== undefined && node.minItems > 0 ? `at least ${node.minItems}` : '', node.maxItems !== undefined ? `at most ${node.maxItems}` : '']
        .filter(Boolean)
        .join(' and ');
      return `list of ${typeOf(node.items, `${path}[]`)}${count ? ` (${count} ${node.minItems === 1 && node.maxItems === undefined ? 'item' : 'items'})` : ''}`;
    }
    case 'object':
      return node.additionalProperties === false ? 'mapping' : 'mapping (other keys allowed)';
    default:
      throw new Error(`scenario-docs: ${path} has no type this generator renders`);
  }
}

/** The text after a trailing "default: ..." in a description, for optional fields with no schema default (the value depends on the run, e.g. the core count). */
const DEFAULT_IN_TEXT = /(?:^|;\s*)default: ([^;]+)$/;

interface Row {
  field: string;
  type: string;
  default: string;
  description: string;
}

function row(path: string, node: Node, required: boolean): Row {
  const type = typeOf(node, path);
  let description = node.description ?? '';
  let shown: string;
  if (node.default !== undefined) shown = code(node.default);
  else if (required) shown = '**required**';
  else {
    const match = DEFAULT_IN_TEXT.exec(description);
    if (match) {
      shown = prose((match[1] as string).trim());
      description = description.slice(0, match.index);
    } else {
      shown = '—';
    }
  }
  return { field: code(path), type, default: shown, description: prose(description) };
}

/** Rows of a mapping's fields, nested mappings expanded after their own row; forbidden keys are collected apart. */
function fieldRows(node: Node, path: string, rows: Row[], forbidden: string[]): void {
  check(node, path);
  for (const [key, child] of Object.entries(node.properties ?? {})) {
    const childPath = `${path}.${key}`;
    if (isForbidden(child)) {
      forbidden.push(childPath);
      continue;
    }
    if (child.oneOf?.some((n) => n.type === 'object') || child.anyOf?.some((n) => n.type === 'object')) {
      throw new Error(`scenario-docs: ${childPath} is a union of mappings below the top level, which this generator does not render`);
    }
    rows.push(row(childPath, child, node.required?.includes(key) ?? false));
    if (child.type === 'object' && child.properties) fieldRows(child, childPath, rows, forbidden);
  }
}

function table(rows: Row[]): string[] {
  return [
    '| Field | Type / allowed values | Default | Description |',
    '| --- | --- | --- | --- |',
    ...rows.map((r) => `| ${r.field} | ${r.type} | ${r.default} | ${r.description} |`),
  ];
}

/** "Required.", "Optional; default ..." and the field's own description, under its heading. */
function preamble(node: Node, required: boolean): string {
  const r = row('', node, required);
  const status = required ? 'Required.' : r.default === '—' ? 'Optional.' : `Optional; default ${r.default}.`;
  return r.description ? `${status} ${r.description}` : status;
}

/** The key whose `const` tells the variants of a union of mappings apart. */
function discriminator(variants: Node[], path: string): string {
  const first = variants[0]?.properties ?? {};
  const key = Object.keys(first).find((k) => variants.every((v) => v.properties?.[k]?.const !== undefined));
  if (!key) throw new Error(`scenario-docs: ${path} is a union without a discriminating key`);
  return key;
}

function unionSection(name: string, node: Node, variants: Node[], required: boolean): string[] {
  const tag = discriminator(variants, name);
  // Variants with the same fields (FedPFT and its ablations) share one table.
  const groups: { tags: unknown[]; variant: Node }[] = [];
  for (const variant of variants) {
    const shape = (v: Node) => JSON.stringify([without(v.properties, tag), v.required?.filter((k) => k !== tag), v.additionalProperties]);
    const group = groups.find((g) => shape(g.variant) === shape(variant));
    const value = variant.properties?.[tag]?.const;
    if (group) group.tags.push(value);
    else groups.push({ tags: [value], variant });
  }
  const all = variants.map((v) => code(v.properties?.[tag]?.const));
  const out = [`${preamble(node, required)} One of ${variants.length} shapes, chosen by ${code(`${name}.${tag}`)}: ${all.join(', ')}.`, ''];
  for (const { tags, variant } of groups) {
    out.push(`### ${tag}: ${tags.map(code).join(', ')}`, '');
    const rows: Row[] = [{ field: code(`${name}.${tag}`), type: tags.map(code).join(', '), default: '**required**', description: prose(variant.properties?.[tag]?.description ?? '') }];
    const forbidden: string[] = [];
    fieldRows({ ...variant, properties: without(variant.properties, tag) }, name, rows, forbidden);
    out.push(...table(rows), '');
    if (forbidden.length > 0) out.push(`Not allowed with ${tag} ${tags.map(code).join(', ')}: ${forbidden.map(code).join(', ')}.`, '');
  }
  return out;
}

function section(name: string, node: Node, required: boolean): string[] {
  check(node, name);
  const out = [`## ${name}`, ''];
  const variants = node.oneOf ?? node.anyOf;
  if (variants?.every((v) => v.type === 'object')) return [...out, ...unionSection(name, node, variants, required)];
  if (node.type === 'object' && node.properties) {
    const rows: Row[] = [];
    const forbidden: string[] = [];
    fieldRows(node, name, rows, forbidden);
    if (forbidden.length > 0) throw new Error(`scenario-docs: ${forbidden.join(', ')}: a forbidden key outside a union`);
    return [...out, preamble(node, required), '', ...table(rows), ''];
  }
  return [...out, ...table([row(name, node, required)]), ''];
}

export function scenarioDocsText(): string {
  return renderScenarioDocs(scenarioJsonSchema());
}

/** The page for a scenario JSON Schema (exported for tests). */
export function renderScenarioDocs(jsonSchema: object): string {
  const schema = jsonSchema as Node;
  check(schema, '');
  if (schema.type !== 'object' || !schema.properties) throw new Error('scenario-docs: the scenario schema is not a mapping');
  const lines = [
    '# Scenario file reference',
    '',
    `Generated from the scenario schema (\`src/scenario/schema.ts\`, the same JSON Schema as \`scenarios/scenario.schema.json\`) by \`${SCENARIO_DOCS_COMMAND}\`; do not edit it by hand.`,
    '',
    'A scenario is one YAML file. Every mapping is strict: a misspelt or unknown key is an error, not an ignored default. ' +
      'Fields are written as dotted paths (`federation.rounds` is `rounds:` under `federation:`). ' +
      'In the Default column, **required** means the field must be given (in its mapping, where that mapping is given) and — that it is optional with no default. ' +
      'A mapping whose default is `{}` may be left out, and then every field in it takes its default.',
    '',
    `Top-level fields: ${Object.keys(schema.properties).map((k) => `[\`${k}\`](#${k})`).join(', ')}.`,
    '',
  ];
  for (const [key, node] of Object.entries(schema.properties)) lines.push(...section(key, node, schema.required?.includes(key) ?? false));
  lines.push(
    '## Not in the schema: sweep',
    '',
    '`fedpft sweep` also reads an optional `sweep:` mapping (`set`: dotted fields to lists of values; `seeds`; `name`) and removes it before the rest of the file is checked against the schema above. ' +
      'It is not part of the schema: `fedpft ablate` ignores it, and `fedpft run`, `fedpft partition` and editors using `scenarios/scenario.schema.json` report it as an unknown field.',
    '',
  );
  return lines.join('\n');
}

if (process.argv[1] && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  const out = resolve(process.argv[2] ?? SCENARIO_DOCS_FILE);
  writeFileSync(out, scenarioDocsText());
  console.log(`wrote ${out}`);
}
