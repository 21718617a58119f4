import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { readCheckpoint } from '../src/model/checkpoint.js';
import { TextTokenizer } from '../src/text/tokenizer.js';
import { Rng } from '../src/util/rng.js';
import { bertReferenceHidden, bertReferenceLogits, type BertRefConfig } from './helpers/bert-reference.js';
import { expectClose, randomUniform } from './helpers/numeric.js';
import { tinyVit } from './helpers/kit.js';
import { cli, makeTinyFm, makeTinyTextFm, tempDir } from './helpers/tiny-run.js';
import { referenceForward, refConfig, type HfTensor } from './helpers/vit-reference.js';

function hfTensors(dir: string): Map<string, HfTensor> {
  return new Map([...readCheckpoint(dir).tensors].map(([n, t]) => [n, { shape: t.shape, data: t.data }]));
}

function bertRefConfig(dir: string): BertRefConfig {
  const c = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8')) as Record<string, number>;
  return {
    modelType: 'bert',
    vocabSize: c['vocab_size'] as number,
    hiddenSize: c['hidden_size'] as number,
    numHiddenLayers: c['num_hidden_layers'] as number,
    numAttentionHeads: c['num_attention_heads'] as number,
    intermediateSize: c['intermediate_size'] as number,
    maxPositionEmbeddings: c['max_position_embeddings'] as number,
    typeVocabSize: c['type_vocab_size'] as number,
    numLabels: 2,
    layerNormEps: c['layer_norm_eps'] as number,
    padTokenId: c['pad_token_id'] as number,
  };
}

const parseLines = (s: string) => s.trim().split('\n').map((l) => JSON.parse(l) as { logits?: number[]; hidden?: number[]; label?: string });

describe('fedpft predict', () => {
  let work = '';
  let textFm = '';
  let vitFm = '';
  beforeAll(async () => {
    work = tempDir('predict');
    textFm = join(work, 'text-fm');
    vitFm = join(work, 'vit-fm');
    await Promise.all([makeTinyTextFm(textFm), makeTinyFm(vitFm)]);
  });

  it('text: logits and [CLS] hidden states equal a plain-loop HF forward pass on the same files', async () => {
    const inputs = [
      { text: 'Free money!!! Click here to claim your prize', pair: 'call me ishmael' },
      { text: 'meeting moved to thursday', pair: 'the whale, the whale' },
      // A literal [PAD] is the pad id with attention 1 (HF's encoding): it is attended, not padding.
      { text: 'call me [PAD] ishmael', pair: 'the [PAD] whale' },
    ];
    const file = join(work, 'text.jsonl');
    writeFileSync(file, inputs.map((i) => JSON.stringify(i)).join('\n') + '\n');
    const logits = await cli(['predict', '--model', textFm, '--input', file, '--max-length', '16']);
    expect(logits.code, logits.stderr).toBe(0);
    const hidden = await cli(['predict', '--model', textFm, '--input', file, '--max-length', '16', '--output', 'cls-hidden']);
    expect(hidden.code, hidden.stderr).toBe(0);
    const tok = TextTokenizer.fromFile(join(textFm, 'tokenizer.json'));
    const hf = hfTensors(textFm);
    const cfg = bertRefConfig(textFm);
    const gotLogits = parseLines(logits.stdout);
    const gotHidden = parseLines(hidden.stdout);
    inputs.forEach((input, i) => {
      const e = tok.encode(input.text, input.pair, { maxLength: 16, padding: 'max_length' });
      expect(Array.from(e.tokenTypeIds)).toContain(1);
      const ids = Array.from(e.inputIds);
      const types = Array.from(e.tokenTypeIds);
      const mask = Array.from(e.attentionMask);
      if (i === 2) {
        const literal = ids.flatMap((id, j) => (id === cfg.padTokenId && mask[j] === 1 ? [j] : []));
        expect(literal).toHaveLength(2);
        // The old rule (attention from ids != pad_token_id) gives another [CLS] state (the tiny FM's
        // 0.02-scale head makes its logits differ by less than the tolerance): the test tells them apart.
        const idMask = ids.map((id) => (id === cfg.padTokenId ? 0 : 1));
        const old = bertReferenceHidden(cfg, hf, ids, types, idMask)[0] as Float64Array;
        const got = gotHidden[i]?.hidden as number[];
        expect(Math.max(...got.map((v, k) => Math.abs(v - (old[k] as number))))).toBeGreaterThan(1e-3);
      }
      expectClose(gotLogits[i]?.logits as number[], bertReferenceLogits(cfg, hf, ids, types, mask), 1e-4, `logits ${i}`);
      expectClose(gotHidden[i]?.hidden as number[], bertReferenceHidden(cfg, hf, ids, types, mask)[0] as Float64Array, 1e-4, `hidden ${i}`);
      expect(['a', 'b']).toContain(gotLogits[i]?.label);
    });
  });

  it('images: logits equal the plain-loop HF ViT forward pass; --out writes the same lines', async () => {
    const rng = new Rng('predict-images');
    const size = 28 * 28;
    const images = randomUniform(rng, 3 * size);
    const file = join(work, 'images.jsonl');
    writeFileSync(file, [0, 1, 2].map((i) => JSON.stringify({ image: Array.from(images.subarray(i * size, (i + 1) * size)) })).join('\n'));
    const out = join(work, 'pred.jsonl');
    const r = await cli(['predict', '--model', vitFm, '--input', file, '--out', out]);
    expect(r.code, r.stderr).toBe(0);
    const got = parseLines(readFileSync(out, 'utf8')).flatMap((p) => p.logits as number[]);
    expectClose(got, referenceForward(refConfig(tinyVit()), hfTensors(vitFm), images, 3), 1e-4, 'ViT logits');
  });

  it('bad input is one line and exit 2, naming the file and line', async () => {
    const badJson = join(work, 'bad.jsonl');
    writeFileSync(badJson, '{"text": "ok"}\n{"text": \n');
    const shortImage = join(work, 'short.jsonl');
    writeFileSync(shortImage, '{"image": [0, 1]}\n');
    const mixed = join(work, 'mixed.jsonl');
    writeFileSync(mixed, '{"text": "a", "pair": "b"}\n{"text": "c"}\n');
    const cases: Array<[string[], RegExp]> = [
      [['--model', textFm, '--input', badJson], /bad\.jsonl: line 2/],
      [['--model', vitFm, '--input', shortImage], /short\.jsonl: line 1: expected "image": an array of 784/],
      [['--model', textFm, '--input', mixed], /either every line has a "pair" or none does/],
      [['--model', textFm, '--input', mixed, '--max-length', '64'], /--max-length: the FM has 32 positions/],
      [['--model', vitFm, '--input', shortImage, '--output', 'cls-hidden'], /cls-hidden is for text FMs/],
      [['--model', join(work, 'nope'), '--input', badJson], /checkpoint directory does not exist/],
    ];
    for (const [args, message] of cases) {
      const r = await cli(['predict', ...args]);
      expect(r.code, `${args.join(' ')}: ${r.stderr}`).toBe(2);
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
      expect(r.stderr).toMatch(message);
    }
  });
});
