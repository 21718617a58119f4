import { createHash } from 'node:crypto';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { readScenarioSource } from '../src/experiments/grid.js';
import { parseScenario } from '../src/scenario/load.js';
import { modelConfigFromHF } from '../src/model/encoder.js';
import { TextTokenizer } from '../src/text/tokenizer.js';
import { REPO } from './helpers/tiny-run.js';

function yamlFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((f) => {
    const p = join(dir, f);
    if (statSync(p).isDirectory()) return yamlFiles(p);
    return f.endsWith('.yaml') ? [p] : [];
  });
}

describe('what the repository ships', () => {
  // Scenario files resolve model.dir from the working directory, as the README runs them.
  const cwd = process.cwd();
  const files = yamlFiles(join(REPO, 'scenarios'));

  it('has scenario files for vision, text and the paper tables', () => {
    const names = files.map((f) => relative(REPO, f));
    expect(names).toEqual(expect.arrayContaining(['scenarios/quickstart.yaml', 'scenarios/text/spam-fedpetuning.yaml', 'scenarios/paper/table1-iid-mnist.yaml']));
  });

  for (const file of files) {
    it(`${relative(REPO, file)} loads (its sweep section apart) and names an FM that exists`, async () => {
      process.chdir(REPO);
      try {
        const source = await readScenarioSource(file);
        expect(() => parseScenario(stringify(source.raw), file)).not.toThrow();
      } finally {
        process.chdir(cwd);
      }
    });
  }

  for (const dir of ['models/vit-fmnist', 'models/bert-text', 'models/bert-text-2']) {
    it(`${dir}: files match SHA256SUMS; config.json is valid`, () => {
      const sums = readFileSync(join(REPO, dir, 'SHA256SUMS'), 'utf8').trim().split('\n');
      expect(sums.length).toBeGreaterThan(0);
      for (const line of sums) {
        const [sum, name] = line.split(/\s+/) as [string, string];
        expect(createHash('sha256').update(readFileSync(join(REPO, dir, name))).digest('hex'), name).toBe(sum);
      }
      const cfg = modelConfigFromHF(JSON.parse(readFileSync(join(REPO, dir, 'config.json'), 'utf8')) as Record<string, unknown>, dir);
      if (cfg.modelType === 'bert') {
        const tok = TextTokenizer.fromFile(join(REPO, dir, 'tokenizer.json'));
        expect(tok.vocabSize).toBe(cfg.vocabSize);
        expect(tok.padId).toBe(cfg.padTokenId);
      }
    });
  }
});
