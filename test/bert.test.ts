import * as tf from '@tensorflow/tfjs-core';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sameInput, tokenFeatureSize, tokensOfFeatureSize, type InputShape } from '../src/data/dataset.js';
import { bertConfigFromHF, loadBert, saveBert } from '../src/model/bert-checkpoint.js';
import { bertForward, bertForwardMacs, bertMaskedLm, initBertLoraParams, initBertParams, type BertConfig } from '../src/model/bert.js';
import { readCheckpoint, writeCheckpoint } from '../src/model/checkpoint.js';
import { inputMismatch, realTokenMask } from '../src/model/encoder.js';
import { disposeParams } from '../src/model/params.js';
import { initBackend } from '../src/tensor/backend.js';
import type { LabelledTexts } from '../src/data/dataset.js';
import { encodeTextSet } from '../src/text/encode-set.js';
import { TextTokenizer } from '../src/text/tokenizer.js';
import { UserError } from '../src/util/errors.js';
import { Rng } from '../src/util/rng.js';
import { bertHfShapes, bertReferenceLogits, bertReferenceMlm, positionIds, type BertRefConfig } from './helpers/bert-reference.js';
import { randomWeights, tinyBert } from './helpers/kit.js';
import { expectClose, randomNormal } from './helpers/numeric.js';
import type { HfTensor } from './helpers/vit-reference.js';

const BERT: BertConfig = tinyBert({ vocabSize: 23, hiddenSize: 8, intermediateSize: 16, numLabels: 3 });

const ROBERTA: BertConfig = tinyBert({
  modelType: 'roberta',
  vocabSize: 19,
  hiddenSize: 8,
  numAttentionHeads: 4,
  intermediateSize: 12,
  maxPositionEmbeddings: 12,
  typeVocabSize: 1,
  layerNormEps: 1e-5,
  padTokenId: 1,
});

const T = 8;
const FIXTURES = join(import.meta.dirname, 'fixtures', 'tokenizer');

function hfConfig(cfg: BertRefConfig): Record<string, unknown> {
  return {
    model_type: cfg.modelType,
    vocab_size: cfg.vocabSize,
    hidden_size: cfg.hiddenSize,
    num_hidden_layers: cfg.numHiddenLayers,
    num_attention_heads: cfg.numAttentionHeads,
    intermediate_size: cfg.intermediateSize,
    hidden_act: 'gelu',
    hidden_dropout_prob: 0.1,
    max_position_embeddings: cfg.maxPositionEmbeddings,
    type_vocab_size: cfg.typeVocabSize,
    layer_norm_eps: cfg.layerNormEps,
    pad_token_id: cfg.padTokenId,
    id2label: Object.fromEntries(Array.from({ length: cfg.numLabels }, (_, i) => [String(i), `c${i}`])),
  };
}

/** Random HF-layout tensors (large enough that every path moves the logits). */
function randomHf(cfg: BertRefConfig, withMlm: boolean, rng: Rng): Map<string, HfTensor> {
  return randomWeights(bertHfShapes(cfg, withMlm), rng, { weight: 0.4, bias: 0.1, layerNorm: 0.04 });
}

function writeHf(dir: string, cfg: BertRefConfig, hf: Map<string, HfTensor>, rename: (n: string) => string = (n) => n): void {
  writeCheckpoint(dir, hfConfig(cfg), [...hf].map(([name, t]) => ({ name: rename(name), shape: t.shape, data: t.data })));
}

/**
 * Sequences of length T: BERT pairs with token types; some end in padding (mask 0). The last row
 * also holds a literal pad id inside the text (mask 1, as the tokenizer encodes a typed [PAD]).
 */
function inputs(cfg: BertRefConfig, rng: Rng): { ids: number[][]; types: number[][]; masks: number[][] } {
  const lengths = [T, 5, 2, 6];
  const ids: number[][] = [];
  const types: number[][] = [];
  const masks: number[][] = [];
  for (const [r, len] of lengths.entries()) {
    const row: number[] = [];
    const ty: number[] = [];
    const mask: number[] = [];
    for (let j = 0; j < T; j++) {
      if (j < len) {
        let id = cfg.padTokenId;
        while (id === cfg.padTokenId) id = rng.int(cfg.vocabSize);
        row.push(r === 3 && j === 2 ? cfg.padTokenId : id);
        ty.push(cfg.typeVocabSize > 1 && j >= Math.ceil(len / 2) ? 1 : 0);
        mask.push(1);
      } else {
        row.push(cfg.padTokenId);
        ty.push(0);
        mask.push(0);
      }
    }
    ids.push(row);
    types.push(ty);
    masks.push(mask);
  }
  return { ids, types, masks };
}

/** Text features as the encoder lays them out: [ids | token types | attention mask] per row. */
function features(ids: number[][], types: number[][], masks: number[][]): tf.Tensor2D {
  const t = (ids[0] as number[]).length;
  const rows = ids.map((r, i) => [...r, ...(types[i] as number[]), ...(masks[i] as number[])]);
  return tf.tensor2d(rows.flat(), [rows.length, 3 * t]);
}

/** The attention mask the old code rebuilt from the ids (a literal pad id counted as padding). */
const idMask = (cfg: BertRefConfig, ids: readonly number[]) => ids.map((id) => (id === cfg.padTokenId ? 0 : 1));

const maxAbsDiff = (a: ArrayLike<number>, b: ArrayLike<number>) => Math.max(...Array.from(a, (v, i) => Math.abs(v - (b[i] as number))));

describe('BERT and RoBERTa encoders against a plain-loop HF forward pass', () => {
  let root = '';
  beforeAll(async () => {
    await initBackend('wasm', 'exact');
    root = mkdtempSync(join(tmpdir(), 'fedpft-bert-'));
  });
  afterAll(() => {
    if (root) rmSync(root, { recursive: true, force: true });
  });

  for (const ref of [BERT, ROBERTA]) {
    const label = ref.modelType;
    it(`${label}: a HF-layout checkpoint loads and its logits (padding, pairs) match within 1e-4`, () => {
      const rng = new Rng(`bert-test/${label}`);
      const hf = randomHf(ref, true, rng);
      const dir = join(root, `${label}-logits`);
      writeHf(dir, ref, hf);
      const loaded = loadBert(dir);
      expect(loaded.hasClassifier).toBe(true);
      expect(loaded.hasMaskedLmHead).toBe(true);
      expect(loaded.classNames).toEqual(Array.from({ length: ref.numLabels }, (_, i) => `c${i}`));
      const { ids, types, masks } = inputs(ref, rng);
      const x = features(ids, types, masks);
      const got = tf.tidy(() => bertForward(loaded.cfg, loaded.params, x).dataSync());
      const expected = ids.flatMap((r, i) => Array.from(bertReferenceLogits(ref, hf, r, types[i] as number[], masks[i] as number[])));
      expectClose(got, expected, 1e-4, `${label} logits`);
      x.dispose();
      disposeParams(loaded.params);
    });

    it(`${label}: with non-zero LoRA on query, key, value and attention output the logits match`, () => {
      const rng = new Rng(`bert-lora/${label}`);
      const hf = randomHf(ref, false, rng);
      const dir = join(root, `${label}-lora`);
      writeHf(dir, ref, hf);
      const loaded = loadBert(dir);
      const lora = initBertLoraParams(loaded.cfg, 2, rng);
      const tensors = new Map<string, Float32Array>();
      for (const [name, t] of lora) {
        const data = randomNormal(rng, t.size, 0.3);
        t.dispose();
        tensors.set(name, data);
        loaded.params.set(name, tf.tensor(data, t.shape));
      }
      expect(tensors.size).toBe(ref.numHiddenLayers * 4 * 2);
      const { ids, types, masks } = inputs(ref, rng);
      const x = features(ids, types, masks);
      const opts = { lora: { rank: 2, alpha: 6, dropout: 0.1 } };
      const got = tf.tidy(() => bertForward(loaded.cfg, loaded.params, x, opts).dataSync());
      const expected = ids.flatMap((r, i) => Array.from(bertReferenceLogits(ref, hf, r, types[i] as number[], masks[i] as number[], { rank: 2, alpha: 6, tensors })));
      expectClose(got, expected, 1e-4, `${label} LoRA logits`);
      x.dispose();
      disposeParams(loaded.params);
    });

    it(`${label}: masked-LM logits at chosen positions match (decoder tied to the word embeddings)`, () => {
      const rng = new Rng(`bert-mlm/${label}`);
      const hf = randomHf(ref, true, rng);
      const dir = join(root, `${label}-mlm`);
      writeHf(dir, ref, hf);
      const loaded = loadBert(dir);
      const { ids, types, masks } = inputs(ref, rng);
      const x = features(ids, types, masks);
      // 3T + 2 is the literal pad; 3T + 4 reads it through attention.
      const at = [0, 3, T + 1, 2 * T + 1, 3 * T + 2, 3 * T + 4];
      const got = tf.tidy(() => bertMaskedLm(loaded.cfg, loaded.params, x, tf.tensor1d(at, 'int32')).dataSync());
      const expected = at.flatMap((flat) => {
        const r = Math.floor(flat / T);
        return Array.from(bertReferenceMlm(ref, hf, ids[r] as number[], types[r] as number[], masks[r] as number[], flat % T));
      });
      expectClose(got, expected, 1e-4, `${label} MLM logits`);
      x.dispose();
      disposeParams(loaded.params);
    });
  }

  it('RoBERTa numbers positions from pad + 1 and leaves pads at the pad id (the reference rule)', () => {
    expect(positionIds(ROBERTA, [0, 5, 7, 1, 1])).toEqual([2, 3, 4, 1, 1]);
    expect(positionIds(BERT, [3, 4, 0])).toEqual([0, 1, 2]);
  });

  it('BERT: more or less padding on the right does not change the logits; a changed token does', () => {
    const rng = new Rng('bert-pad');
    const hf = randomHf(BERT, false, rng);
    const dir = join(root, 'pad');
    writeHf(dir, BERT, hf);
    const loaded = loadBert(dir);
    const short = [[2, 5, 7, 3, 0, 0, 0, 0]];
    const typesShort = [[0, 0, 1, 1, 0, 0, 0, 0]];
    const maskShort = [[1, 1, 1, 1, 0, 0, 0, 0]];
    const a = tf.tidy(() => bertForward(loaded.cfg, loaded.params, features(short, typesShort, maskShort)).dataSync());
    // The same tokens padded to 6 instead of 8 positions.
    const b = tf.tidy(() => {
      const x = tf.tensor2d([[2, 5, 7, 3, 0, 0, 0, 0, 1, 1, 0, 0, 1, 1, 1, 1, 0, 0]], [1, 18]);
      return bertForward(loaded.cfg, loaded.params, x).dataSync();
    });
    expectClose(a, b, 1e-5, 'same tokens');
    const c = tf.tidy(() => bertForward(loaded.cfg, loaded.params, features([[2, 5, 7, 0, 0, 0, 0, 0]], typesShort, [[1, 1, 1, 0, 0, 0, 0, 0]])).dataSync());
    expect(maxAbsDiff(a, c)).toBeGreaterThan(1e-3);
    disposeParams(loaded.params);
  });
});

describe('a literal pad token typed in a text is attended, as in HF (the mask is the tokenizer\'s)', () => {
  let root = '';
  beforeAll(async () => {
    await initBackend('wasm', 'exact');
    root = mkdtempSync(join(tmpdir(), 'fedpft-bert-literal-pad-'));
  });
  afterAll(() => {
    if (root) rmSync(root, { recursive: true, force: true });
  });

  // The fixture tokenizers (test/fixtures/tokenizer): WordPiece 38 tokens, [PAD] = 0; BPE 19 tokens, <pad> = 1.
  const cases = [
    { ref: { ...BERT, vocabSize: 38 }, file: 'wordpiece.json', texts: ['the [PAD] cat', 'the cat'], pairs: ['a dog', 'a dog'], maxLength: 10 },
    { ref: { ...ROBERTA, vocabSize: 19 }, file: 'bpe.json', texts: ['<pad>lower newer', 'lower newer'], pairs: undefined, maxLength: 8 },
  ];
  for (const c of cases) {
    const { ref, maxLength: L } = c;
    it(`${ref.modelType}: "${c.texts[0]}" through encodeTextSet gives HF's logits; the old id-based mask would not`, () => {
      const tok = TextTokenizer.fromFile(join(FIXTURES, c.file));
      expect([tok.vocabSize, tok.padId]).toEqual([ref.vocabSize, ref.padTokenId]);
      const set: LabelledTexts = { name: 'literal-pad', texts: c.texts, ...(c.pairs ? { pairs: c.pairs } : {}), labels: new Int32Array(2), numClasses: 1, classNames: [''] };
      const enc = encodeTextSet(set, { tokenizer: tok, maxLength: L });
      expect(enc.featureSize).toBe(3 * L);
      expect(enc.input).toEqual({ kind: 'tokens', maxLength: L, padTokenId: ref.padTokenId });
      const plane = (r: number, k: number) => Array.from(enc.features.subarray(r * 3 * L + k * L, r * 3 * L + (k + 1) * L));
      const ids = [0, 1].map((r) => plane(r, 0));
      const types = [0, 1].map((r) => plane(r, 1));
      const masks = [0, 1].map((r) => plane(r, 2));
      // The three planes are the tokenizer's own encoding, attention mask included.
      c.texts.forEach((text, r) => {
        const e = tok.encode(text, c.pairs?.[r], { maxLength: L, padding: 'max_length' });
        expect([ids[r], types[r], masks[r]]).toEqual([Array.from(e.inputIds), Array.from(e.tokenTypeIds), Array.from(e.attentionMask)]);
      });
      // Row 0 holds one literal pad (the pad id, attended) and real padding after the text.
      expect(ids[0]?.flatMap((id, j) => (id === ref.padTokenId && masks[0]?.[j] === 1 ? [j] : []))).toHaveLength(1);
      expect(masks[0]).toContain(0);
      expect(masks[1]).toEqual(idMask(ref, ids[1] as number[]));

      const hf = randomHf(ref, false, new Rng(`literal-pad/${ref.modelType}`));
      const dir = join(root, ref.modelType);
      writeHf(dir, ref, hf);
      const loaded = loadBert(dir);
      const x = tf.tensor2d(enc.features, [enc.n, enc.featureSize]);
      const got = tf.tidy(() => bertForward(loaded.cfg, loaded.params, x).dataSync());
      const hfLogits = ids.map((r, i) => Array.from(bertReferenceLogits(ref, hf, r, types[i] as number[], masks[i] as number[])));
      expectClose(got, hfLogits.flat(), 1e-4, `${ref.modelType} logits with a literal pad`);

      // The old rule (mask = ids != pad_token_id) treats the literal pad as padding: other logits.
      const oldLogits = ids.map((r, i) => Array.from(bertReferenceLogits(ref, hf, r, types[i] as number[], idMask(ref, r))));
      expect(maxAbsDiff(got.subarray(0, ref.numLabels), oldLogits[0] as number[])).toBeGreaterThan(1e-3);
      // ... and the model reads its mask from the third plane: writing the id-based mask there gives the old logits.
      const oldFeatures = enc.features.slice();
      ids.forEach((r, i) => oldFeatures.set(idMask(ref, r), i * 3 * L + 2 * L));
      const xOld = tf.tensor2d(oldFeatures, [enc.n, enc.featureSize]);
      const gotOld = tf.tidy(() => bertForward(loaded.cfg, loaded.params, xOld).dataSync());
      expectClose(gotOld, oldLogits.flat(), 1e-4, `${ref.modelType} logits with the id-based mask`);
      // The text without a literal pad gives the same logits either way.
      expect(Array.from(gotOld.subarray(ref.numLabels))).toEqual(Array.from(got.subarray(ref.numLabels)));

      // Distillation and APoZ weigh the same positions as attention: the literal pad counts as real.
      const real = tf.tidy(() => (realTokenMask(loaded.cfg, x) as tf.Tensor).dataSync());
      expect(Array.from(real)).toEqual(masks.flat());
      x.dispose();
      xOld.dispose();
      disposeParams(loaded.params);
    });
  }

  it('features that are not three planes of tokens are refused, not misread', () => {
    const cfg = BERT;
    const params = initBertParams(cfg, new Rng('planes'));
    // 2 * 8 values: the old [ids | token types] layout of 8 tokens.
    expect(() => tf.tidy(() => bertForward(cfg, params, tf.zeros([1, 2 * T]) as tf.Tensor2D))).toThrow(/not 3 planes/);
    expect(() => realTokenMask(cfg, tf.zeros([1, 2 * T]) as tf.Tensor2D)).toThrow(/not 3 planes/);
    disposeParams(params);
  });

  it('the input descriptor still refuses a set of another length or pad id, and an FM of another pad id', () => {
    const a: InputShape = { kind: 'tokens', maxLength: 8, padTokenId: 0 };
    expect(sameInput(a, { ...a })).toBe(true);
    expect(sameInput(a, { ...a, maxLength: 9 })).toBe(false);
    expect(sameInput(a, { ...a, padTokenId: 1 })).toBe(false);
    expect(sameInput(a, { kind: 'image', channels: 1, height: 8, width: 3 })).toBe(false);
    const cfg = BERT;
    expect(inputMismatch(cfg, a, 'd')).toBeNull();
    expect(inputMismatch(cfg, { ...a, padTokenId: 1 }, 'd')).toMatch(/pads with id 1, the FM's pad_token_id is 0/);
    expect(inputMismatch(cfg, { ...a, maxLength: 11 }, 'd')).toMatch(/task\.maxLength 11 exceeds the FM's 10 positions/);
    expect(tokenFeatureSize(8)).toBe(24);
    expect(tokensOfFeatureSize(24)).toBe(8);
  });
});

describe('BERT checkpoints: names, round trip and bad files', () => {
  let root = '';
  beforeAll(async () => {
    await initBackend('wasm', 'exact');
    root = mkdtempSync(join(tmpdir(), 'fedpft-bert-io-'));
  });
  afterAll(() => {
    if (root) rmSync(root, { recursive: true, force: true });
  });

  it('BertModel names without the "bert." prefix load as the same encoder, with no head', () => {
    const rng = new Rng('bert-unprefixed');
    const hf = randomHf(BERT, false, rng);
    const encoderOnly = new Map([...hf].filter(([n]) => n.startsWith('bert.') && !n.startsWith('bert.pooler')));
    const dir = join(root, 'bertmodel');
    writeHf(dir, BERT, encoderOnly, (n) => n.slice('bert.'.length));
    const loaded = loadBert(dir);
    expect(loaded.hasClassifier).toBe(false);
    expect([...loaded.params.keys()].sort()).toEqual([...encoderOnly.keys()].sort());
    const w = loaded.params.get('bert.encoder.layer.1.intermediate.dense.weight') as tf.Tensor;
    expect(w.shape).toEqual([BERT.hiddenSize, BERT.intermediateSize]);
    const hfW = encoderOnly.get('bert.encoder.layer.1.intermediate.dense.weight') as HfTensor;
    // internal [in, out] is the transpose of HF's [out, in]
    expect((w.dataSync() as Float32Array)[1 * BERT.intermediateSize + 3]).toBe(hfW.data[3 * BERT.hiddenSize + 1]);
    disposeParams(loaded.params);
  });

  it('saveBert -> loadBert is bit-identical and the file holds HF names and [out, in] shapes', async () => {
    const rng = new Rng('bert-roundtrip');
    const hf = randomHf(ROBERTA, true, rng);
    const src = join(root, 'rt-src');
    writeHf(src, ROBERTA, hf);
    const a = loadBert(src);
    const out = join(root, 'rt-out');
    await saveBert(out, a.cfg, a.params, a.classNames);
    const ckpt = readCheckpoint(out);
    expect([...ckpt.tensors.keys()].sort()).toEqual([...hf.keys()].sort());
    for (const [name, t] of hf) {
      expect(ckpt.tensors.get(name)?.shape, name).toEqual(t.shape);
      expect(ckpt.tensors.get(name)?.data, name).toEqual(t.data);
    }
    const b = loadBert(out);
    expect(b.cfg).toEqual(a.cfg);
    for (const [name, t] of a.params) expect((b.params.get(name) as tf.Tensor).dataSync(), name).toEqual(t.dataSync());
    disposeParams(a.params);
    disposeParams(b.params);
  });

  const bad: Array<[string, (dir: string, hf: Map<string, HfTensor>) => void, RegExp]> = [
    ['a missing tensor', (dir, hf) => writeHf(dir, BERT, new Map([...hf].filter(([n]) => n !== 'bert.encoder.layer.1.output.dense.bias'))), /model\.safetensors: bert\.encoder\.layer\.1\.output\.dense\.bias: missing tensor/],
    [
      'a wrong shape',
      (dir, hf) => {
        const t = hf.get('bert.embeddings.position_embeddings.weight') as HfTensor;
        hf.set('bert.embeddings.position_embeddings.weight', { shape: [BERT.maxPositionEmbeddings - 1, BERT.hiddenSize], data: t.data.subarray(0, (BERT.maxPositionEmbeddings - 1) * BERT.hiddenSize) });
        writeHf(dir, BERT, hf);
      },
      /position_embeddings\.weight: shape \[9,8\] does not match config\.json/,
    ],
    [
      'an unsupported dtype',
      (dir, hf) => {
        writeHf(dir, BERT, hf);
        const name = 'bert.embeddings.LayerNorm.bias';
        const header = { [name]: { dtype: 'I64', shape: [BERT.hiddenSize], data_offsets: [0, 8 * BERT.hiddenSize] } };
        const json = Buffer.from(JSON.stringify(header));
        const len = Buffer.alloc(8);
        len.writeBigUInt64LE(BigInt(json.length));
        writeFileSync(join(dir, 'model.safetensors'), Buffer.concat([len, json, Buffer.alloc(8 * BERT.hiddenSize)]));
      },
      /model\.safetensors/,
    ],
    [
      'an unknown model_type',
      (dir, hf) => {
        writeHf(dir, BERT, hf);
        const cfg = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8'));
        writeFileSync(join(dir, 'config.json'), JSON.stringify({ ...cfg, model_type: 'gpt2' }));
      },
      /config\.json: model_type: expected "bert" or "roberta", got "gpt2"/,
    ],
  ];
  for (const [what, make, message] of bad) {
    it(`${what} gives a one-line UserError naming the file`, () => {
      const dir = join(root, what.replace(/\W+/g, '-'));
      make(dir, randomHf(BERT, false, new Rng(`bad/${what}`)));
      const before = tf.memory().numTensors;
      let err: unknown;
      try {
        loadBert(dir);
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(UserError);
      expect((err as Error).message).toMatch(message);
      expect((err as Error).message).not.toContain('\n');
      expect(tf.memory().numTensors).toBe(before);
    });
  }

  it('config checks: RoBERTa positions must leave room past the pad id; heads must divide the width', () => {
    expect(() => bertConfigFromHF({ ...hfConfig(ROBERTA), max_position_embeddings: 2 }, 'c.json')).toThrow(/max_position_embeddings: must exceed pad_token_id \+ 1/);
    expect(() => bertConfigFromHF({ ...hfConfig(BERT), num_attention_heads: 3 }, 'c.json')).toThrow(/hidden_size: must be divisible/);
    expect(() => bertConfigFromHF({ ...hfConfig(BERT), pad_token_id: 99 }, 'c.json')).toThrow(/pad_token_id: expected an integer in \[0, 23\)/);
  });
});

describe('bertForwardMacs', () => {
  it('equals a hand count', () => {
    const cfg = BERT;
    const d = 8;
    const perLayer = T * 4 * d * d + 2 * T * T * d + 2 * T * d * 16;
    expect(bertForwardMacs(cfg, T)).toBe(2 * perLayer + d * d + d * 3);
    expect(bertForwardMacs(cfg, T, 2) - bertForwardMacs(cfg, T)).toBe(2 * 4 * T * 2 * d * 2);
  });
});
