import * as tf from '@tensorflow/tfjs-core';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bertConfigFromHF, loadBert, saveBert } from '../src/model/bert-checkpoint.js';
import { bertForward, bertForwardMacs, bertMaskedLm, initBertLoraParams, type BertConfig } from '../src/model/bert.js';
import { readCheckpoint, writeCheckpoint } from '../src/model/checkpoint.js';
import { disposeParams } from '../src/model/params.js';
import { initBackend } from '../src/tensor/backend.js';
import { UserError } from '../src/util/errors.js';
import { Rng } from '../src/util/rng.js';
import { bertHfShapes, bertReferenceLogits, bertReferenceMlm, positionIds, type BertRefConfig } from './helpers/bert-reference.js';
import { expectClose, randomNormal } from './helpers/numeric.js';
import type { HfTensor } from './helpers/vit-reference.js';

const BERT: BertRefConfig = {
  modelType: 'bert',
  vocabSize: 23,
  hiddenSize: 8,
  numHiddenLayers: 2,
  numAttentionHeads: 2,
  intermediateSize: 16,
  maxPositionEmbeddings: 10,
  typeVocabSize: 2,
  numLabels: 3,
  layerNormEps: 1e-12,
  padTokenId: 0,
};

const ROBERTA: BertRefConfig = {
  modelType: 'roberta',
  vocabSize: 19,
  hiddenSize: 8,
  numHiddenLayers: 2,
  numAttentionHeads: 4,
  intermediateSize: 12,
  maxPositionEmbeddings: 12,
  typeVocabSize: 1,
  numLabels: 2,
  layerNormEps: 1e-5,
  padTokenId: 1,
};

const T = 8;

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
  const out = new Map<string, HfTensor>();
  for (const [name, shape] of bertHfShapes(cfg, withMlm)) {
    const n = shape.reduce((a, b) => a * b, 1);
    const data = randomNormal(rng, n, name.endsWith('.bias') ? 0.1 : 0.4);
    if (/(LayerNorm|layer_norm)\.weight$/.test(name)) for (let i = 0; i < n; i++) data[i] = 1 + 0.1 * (data[i] as number);
    out.set(name, { shape, data });
  }
  return out;
}

function writeHf(dir: string, cfg: BertRefConfig, hf: Map<string, HfTensor>, rename: (n: string) => string = (n) => n): void {
  writeCheckpoint(dir, hfConfig(cfg), [...hf].map(([name, t]) => ({ name: rename(name), shape: t.shape, data: t.data })));
}

/** Sequences of length T: BERT pairs with token types; some end in padding. */
function inputs(cfg: BertRefConfig, rng: Rng): { ids: number[][]; types: number[][] } {
  const lengths = [T, 5, 2];
  const ids: number[][] = [];
  const types: number[][] = [];
  for (const len of lengths) {
    const row: number[] = [];
    const ty: number[] = [];
    for (let j = 0; j < T; j++) {
      if (j < len) {
        let id = cfg.padTokenId;
        while (id === cfg.padTokenId) id = rng.int(cfg.vocabSize);
        row.push(id);
        ty.push(cfg.typeVocabSize > 1 && j >= Math.ceil(len / 2) ? 1 : 0);
      } else {
        row.push(cfg.padTokenId);
        ty.push(0);
      }
    }
    ids.push(row);
    types.push(ty);
  }
  return { ids, types };
}

function features(ids: number[][], types: number[][]): tf.Tensor2D {
  const rows = ids.map((r, i) => [...r, ...(types[i] as number[])]);
  return tf.tensor2d(rows.flat(), [rows.length, 2 * T]);
}

describe('BERT and RoBERTa encoders against a plain-loop HF forward pass', () => {
  let root = '';
  beforeAll(async () => {
    await initBackend('wasm');
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
      const { ids, types } = inputs(ref, rng);
      const x = features(ids, types);
      const got = tf.tidy(() => bertForward(loaded.cfg, loaded.params, x).dataSync());
      const expected = ids.flatMap((r, i) => Array.from(bertReferenceLogits(ref, hf, r, types[i] as number[])));
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
      const { ids, types } = inputs(ref, rng);
      const x = features(ids, types);
      const opts = { lora: { rank: 2, alpha: 6, dropout: 0.1 } };
      const got = tf.tidy(() => bertForward(loaded.cfg, loaded.params, x, opts).dataSync());
      const expected = ids.flatMap((r, i) => Array.from(bertReferenceLogits(ref, hf, r, types[i] as number[], { rank: 2, alpha: 6, tensors })));
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
      const { ids, types } = inputs(ref, rng);
      const x = features(ids, types);
      const at = [0, 3, T + 1, 2 * T + 1];
      const got = tf.tidy(() => bertMaskedLm(loaded.cfg, loaded.params, x, tf.tensor1d(at, 'int32')).dataSync());
      const expected = at.flatMap((flat) => {
        const r = Math.floor(flat / T);
        return Array.from(bertReferenceMlm(ref, hf, ids[r] as number[], types[r] as number[], flat % T));
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
    const a = tf.tidy(() => bertForward(loaded.cfg, loaded.params, features(short, typesShort)).dataSync());
    // The same tokens padded to 6 instead of 8 positions.
    const b = tf.tidy(() => {
      const x = tf.tensor2d([[2, 5, 7, 3, 0, 0, 0, 0, 1, 1, 0, 0]], [1, 12]);
      return bertForward(loaded.cfg, loaded.params, x).dataSync();
    });
    expectClose(a, b, 1e-5, 'same tokens');
    const c = tf.tidy(() => bertForward(loaded.cfg, loaded.params, features([[2, 5, 7, 0, 0, 0, 0, 0]], typesShort)).dataSync());
    expect(Math.max(...Array.from(a, (v, i) => Math.abs(v - (c[i] as number))))).toBeGreaterThan(1e-3);
    disposeParams(loaded.params);
  });
});

describe('BERT checkpoints: names, round trip and bad files', () => {
  let root = '';
  beforeAll(async () => {
    await initBackend('wasm');
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

  it('saveBert -> loadBert is bit-identical and the file holds HF names and [out, in] shapes', () => {
    const rng = new Rng('bert-roundtrip');
    const hf = randomHf(ROBERTA, true, rng);
    const src = join(root, 'rt-src');
    writeHf(src, ROBERTA, hf);
    const a = loadBert(src);
    const out = join(root, 'rt-out');
    saveBert(out, a.cfg, a.params, a.classNames);
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
    const cfg: BertConfig = { ...BERT, hiddenDropoutProb: 0 };
    const d = 8;
    const perLayer = T * 4 * d * d + 2 * T * T * d + 2 * T * d * 16;
    expect(bertForwardMacs(cfg, T)).toBe(2 * perLayer + d * d + d * 3);
    expect(bertForwardMacs(cfg, T, 2) - bertForwardMacs(cfg, T)).toBe(2 * 4 * T * 2 * d * 2);
  });
});
