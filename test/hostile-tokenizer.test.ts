import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { readTokenizerJson } from '../src/text/tokenizer.js';
import { UserError } from '../src/util/errors.js';

const FIXTURES = join(import.meta.dirname, 'fixtures/tokenizer');

/** Malformed variants of a valid tokenizer.json: junk files, dropped and mistyped fields at the top and in `model`. */
function variants(base: Record<string, unknown>): [string, string][] {
  const out: [string, string][] = [['empty', ''], ['binary', '\x00\x01{{'], ['array', '[]'], ['null', 'null'], ['truncated', JSON.stringify(base).slice(0, 40)]];
  const junk: unknown[] = [null, 1, -1, 'x', [], {}];
  for (const k of Object.keys(base)) {
    const dropped = { ...base };
    delete dropped[k];
    out.push([`without ${k}`, JSON.stringify(dropped)]);
    for (const v of junk) out.push([`${k} = ${JSON.stringify(v)}`, JSON.stringify({ ...base, [k]: v })]);
  }
  const model = (base['model'] ?? {}) as Record<string, unknown>;
  for (const k of Object.keys(model)) for (const v of junk) out.push([`model.${k} = ${JSON.stringify(v)}`, JSON.stringify({ ...base, model: { ...model, [k]: v } })]);
  return out;
}

describe('hostile tokenizer.json files', () => {
  for (const fixture of ['wordpiece.json', 'bpe.json']) {
    it(`${fixture}: every malformed variant loads and encodes, or fails with a one-line UserError`, () => {
      const cases = variants(JSON.parse(readFileSync(join(FIXTURES, fixture), 'utf8')) as Record<string, unknown>);
      expect(cases.length).toBeGreaterThan(80);
      const dir = mkdtempSync(join(tmpdir(), 'fedpft-tok-'));
      const file = join(dir, 'tokenizer.json');
      for (const [name, text] of cases) {
        writeFileSync(file, text);
        try {
          readTokenizerJson(file).encode('hello world', 'x y', { maxLength: 8, padding: 'max_length' });
        } catch (err) {
          expect(err, name).toBeInstanceOf(UserError);
          expect((err as Error).message, name).not.toContain('\n');
          expect((err as Error).message, name).toContain(file);
        }
      }
    });
  }
});
