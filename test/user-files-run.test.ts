import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { Rng } from '../src/util/rng.js';
import { summaryOf, tinyVit } from './helpers/kit.js';
import { cli, makeTinyFm, makeTinyTextFm, tempDir, tinyScenario, tinyTextScenario, writeScenario } from './helpers/tiny-run.js';

/** A GLUE-style QNLI TSV (question, sentence, label) with a learnable rule: the pair repeats a question word or not. */
function qnliTsv(n: number, rng: Rng): string {
  const words = ['whale', 'ship', 'sea', 'captain', 'money', 'prize', 'vote', 'nation', 'free', 'meeting'];
  const rows = ['index\tquestion\tsentence\tlabel'];
  for (let i = 0; i < n; i++) {
    const q = words[rng.int(words.length)] as string;
    const entail = rng.next() < 0.5;
    const other = words.filter((w) => w !== q)[rng.int(words.length - 1)] as string;
    rows.push(`${i}\twhere is the ${q}?\tthe ${entail ? q : other} is here\t${entail ? 'entailment' : 'not_entailment'}`);
  }
  return rows.join('\n') + '\n';
}

/** CIFAR-10 binary records: 1 label byte + 3,072 pixel bytes. */
function cifarBin(n: number, rng: Rng): Buffer {
  const rec = 1 + 3072;
  const buf = Buffer.alloc(n * rec);
  for (let i = 0; i < n; i++) {
    buf[i * rec] = i % 10;
    for (let j = 1; j < rec; j++) buf[i * rec + j] = rng.int(256);
  }
  return buf;
}

describe("scenarios on the user's own files (GLUE TSV, CIFAR binary)", () => {
  let work = '';
  beforeAll(async () => {
    work = tempDir('user-files');
    await Promise.all([makeTinyTextFm(join(work, 'text-fm')), makeTinyFm(join(work, 'vit32'), tinyVit({ imageSize: 32, patchSize: 8, numChannels: 3 }))]);
  });

  it('glue-qnli: sentence pairs from train.tsv / dev.tsv run through FedPETuning', async () => {
    const rng = new Rng('qnli-files');
    writeFileSync(join(work, 'train.tsv'), qnliTsv(160, rng));
    writeFileSync(join(work, 'dev.tsv'), qnliTsv(60, rng));
    const text = tinyTextScenario(join(work, 'text-fm'))
      .replace('  dataset: spam\n  trainLimit: 240\n  evalLimit: 120\n', `  dataset: glue-qnli\n  files: { train: ${join(work, 'train.tsv')}, validation: ${join(work, 'dev.tsv')} }\n`);
    const r = await cli(['run', writeScenario(work, text, 'qnli.yaml'), '--results', join(work, 'res'), '--run-id', 'q']);
    expect(r.code, r.stderr).toBe(0);
    const summary = summaryOf(join(work, 'res', 'tiny-text', 'q'));
    expect(summary.finalAccuracy).toBeGreaterThan(0);
    const scenario = JSON.parse(readFileSync(join(work, 'res', 'tiny-text', 'q', 'scenario.json'), 'utf8')) as { task: { files: { train: string } } };
    expect(scenario.task.files.train).toBe(join(work, 'train.tsv'));
  });

  it('cifar10: several train batch files are concatenated; a 32x32x3 ViT trains on them', async () => {
    const rng = new Rng('cifar-files');
    writeFileSync(join(work, 'data_batch_1.bin'), cifarBin(60, rng));
    writeFileSync(join(work, 'data_batch_2.bin'), cifarBin(60, rng));
    writeFileSync(join(work, 'test_batch.bin'), cifarBin(40, rng));
    const text = tinyScenario(join(work, 'vit32'))
      .replace('  dataset: mnist\n  trainLimit: 480\n  evalLimit: 200\n', `  dataset: cifar10\n  files:\n    train: [${join(work, 'data_batch_1.bin')}, ${join(work, 'data_batch_2.bin')}]\n    validation: ${join(work, 'test_batch.bin')}\n`);
    const part = await cli(['partition', writeScenario(work, text, 'cifar.yaml'), '--json']);
    expect(part.code, part.stderr).toBe(0);
    const sizes = (JSON.parse(part.stdout) as { clients: Array<{ size: number }> }).clients.map((c) => c.size);
    expect(sizes.reduce((a, b) => a + b, 0)).toBe(120);
    const r = await cli(['run', join(work, 'cifar.yaml'), '--results', join(work, 'res'), '--run-id', 'c']);
    expect(r.code, r.stderr).toBe(0);
  });

  it('missing or misplaced task.files, and a truncated CIFAR file, are one line and exit 2', async () => {
    writeFileSync(join(work, 'short.bin'), Buffer.alloc(100));
    const cases: Array<[string, RegExp]> = [
      [tinyTextScenario(join(work, 'text-fm')).replace('dataset: spam', 'dataset: glue-sst2'), /task\.files: glue-sst2 is read from your files/],
      [tinyScenario(join(work, 'vit32')).replace('  trainLimit: 480\n', `  files: { train: a.bin, validation: b.bin }\n`), /task\.files: mnist ships with the project/],
      [
        tinyScenario(join(work, 'vit32')).replace('  dataset: mnist\n', `  dataset: cifar10\n  files: { train: ${join(work, 'short.bin')}, validation: ${join(work, 'short.bin')} }\n`),
        /short\.bin: size: cifar10 records are 1 label byte \+ 3072 pixel bytes/,
      ],
    ];
    for (const [i, [text, message]] of cases.entries()) {
      const r = await cli(['run', writeScenario(work, text, `bad${i}.yaml`), '--results', join(work, 'bad')]);
      expect(r.code, r.stderr).toBe(2);
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
      expect(r.stderr).toMatch(message);
    }
  });
});
