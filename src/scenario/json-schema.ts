/**
 * Writes scenarios/scenario.schema.json, which editors use to check and complete scenario files.
 * Run from the repository root: node dist/src/scenario/json-schema.js [output path]
 */
import { writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { scenarioJsonSchema } from '../methods/method-schema.js';

export const SCHEMA_FILE = 'scenarios/scenario.schema.json';

export function scenarioJsonSchemaText(): string {
  return `${JSON.stringify(scenarioJsonSchema(), null, 2)}\n`;
}

if (process.argv[1] && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  const out = resolve(process.argv[2] ?? SCHEMA_FILE);
  writeFileSync(out, scenarioJsonSchemaText());
  console.log(`wrote ${out}`);
}
