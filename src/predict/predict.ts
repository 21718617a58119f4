import * as tf from '@tensorflow/tfjs-core';
import { readFileSync } from 'node:fs';
import { tokensOfFeatureSize } from '../data/dataset.js';
import type { LabelledTexts } from '../data/dataset.js';
import { encodeTextSet } from '../text/encode-set.js';
import type { TextTokenizer } from '../text/tokenizer.js';
import { bertHidden, maxSequenceLength } from '../model/bert.js';
import { headShapes, isText, modelForward, type LoadedModel } from '../model/encoder.js';
import { disposeParams } from '../model/params.js';
import { UserError } from '../util/errors.js';
import { readFloats } from '../tensor/read.js';

/**
 * `fedpft predict`: what a checkpoint computes on given inputs, so this implementation can be
 * checked against another one (e.g. HuggingFace transformers) on the same files. Eval mode:
 * no dropout, no LoRA.
 */

export type PredictOutput = 'logits' | 'cls-hidden';

export interface PredictOptions {
  /** Text FMs: tokens per input after truncation and padding (default: the FM's positions, at most 512). */
  maxLength?: number;
  output: PredictOutput;
  batchSize?: number;
}

export interface Prediction {
  logits?: number[];
  label?: string;
  /** Final hidden state of the first token ([CLS] / <s>), text FMs. */
  hidden?: number[];
}

interface InputLine {
  text?: unknown;
  pair?: unknown;
  image?: unknown;
}

/** Reads the JSONL inputs: {"text": ..., "pair"?: ...} for text FMs, {"image": [C*H*W floats in [0,1]]} for ViTs. */
export function readPredictInputs(file: string, fm: LoadedModel, maxLength: number): { features: Float32Array; featureSize: number; n: number } {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new UserError(file, '', (err as NodeJS.ErrnoException).code === 'ENOENT' ? 'file not found' : `cannot read (${(err as Error).message})`);
  }
  const lines = text.split('\n').map((l, i) => ({ l: l.trim(), i: i + 1 })).filter(({ l }) => l !== '');
  if (lines.length === 0) throw new UserError(file, '', 'no input lines');
  const parsed = lines.map(({ l, i }) => {
    try {
      const v = JSON.parse(l) as unknown;
      if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new Error('expected a JSON object');
      return { v: v as InputLine, i };
    } catch (err) {
      throw new UserError(file, `line ${i}`, (err as Error).message.replace(/\s+/g, ' ').slice(0, 200));
    }
  });
  const { cfg } = fm;
  if (isText(cfg)) {
    if (!fm.tokenizer) throw new UserError(fm.dir, 'tokenizer.json', 'a text FM needs its tokenizer');
    return { ...textFeatures(file, parsed, fm.tokenizer, maxLength), n: parsed.length };
  }
  const size = cfg.numChannels * cfg.imageSize * cfg.imageSize;
  const features = new Float32Array(parsed.length * size);
  parsed.forEach(({ v, i }, r) => {
    const img = v.image;
    if (!Array.isArray(img) || img.length !== size || !img.every((x) => typeof x === 'number' && Number.isFinite(x))) {
      throw new UserError(file, `line ${i}`, `expected "image": an array of ${size} finite numbers (${cfg.numChannels}x${cfg.imageSize}x${cfg.imageSize}, CHW)`);
    }
    features.set(img as number[], r * size);
  });
  return { features, featureSize: size, n: parsed.length };
}

function textFeatures(file: string, parsed: Array<{ v: InputLine; i: number }>, tokenizer: TextTokenizer, maxLength: number): { features: Float32Array; featureSize: number } {
  const texts: string[] = [];
  const pairs: string[] = [];
  let pairCount = 0;
  for (const { v, i } of parsed) {
    if (typeof v.text !== 'string') throw new UserError(file, `line ${i}`, 'expected "text": a string');
    if (v.pair !== undefined && typeof v.pair !== 'string') throw new UserError(file, `line ${i}`, '"pair" must be a string');
    texts.push(v.text);
    pairs.push(typeof v.pair === 'string' ? v.pair : '');
    if (typeof v.pair === 'string') pairCount++;
  }
  if (pairCount !== 0 && pairCount !== parsed.length) throw new UserError(file, 'pair', 'either every line has a "pair" or none does');
  const set: LabelledTexts = { name: file, texts, ...(pairCount > 0 ? { pairs } : {}), labels: new Int32Array(texts.length), numClasses: 1, classNames: [''] };
  const enc = encodeTextSet(set, { tokenizer, maxLength });
  return { features: enc.features, featureSize: enc.featureSize };
}

export async function predict(fm: LoadedModel, file: string, opts: PredictOptions): Promise<Prediction[]> {
  const { cfg } = fm;
  const hasHead = [...headShapes(cfg).keys()].every((n) => fm.params.has(n));
  if (opts.output === 'logits' && !hasHead) {
    throw new UserError(fm.dir, 'model.safetensors', `no classification head (${[...headShapes(cfg).keys()].join(', ')}); use --output cls-hidden`);
  }
  if (opts.output === 'cls-hidden' && !isText(cfg)) throw new UserError('command line', '--output', 'cls-hidden is for text FMs');
  let maxLength = 0;
  if (isText(cfg)) {
    const cap = maxSequenceLength(cfg);
    maxLength = opts.maxLength ?? Math.min(512, cap);
    if (maxLength > cap) throw new UserError('command line', '--max-length', `the FM has ${cap} positions, got ${maxLength}`);
  }
  const { features, featureSize, n } = readPredictInputs(file, fm, maxLength);
  const batch = opts.batchSize ?? 32;
  const out: Prediction[] = [];
  for (let start = 0; start < n; start += batch) {
    const size = Math.min(batch, n - start);
    const values = tf.tidy(() => {
      const x = tf.tensor2d(features.subarray(start * featureSize, (start + size) * featureSize), [size, featureSize]);
      if (opts.output === 'logits' || !isText(cfg)) return modelForward(cfg, fm.params, x);
      const t = tokensOfFeatureSize(featureSize);
      const hidden = bertHidden(cfg, fm.params, x);
      return tf.reshape(tf.slice(tf.reshape(hidden, [size, t, cfg.hiddenSize]), [0, 0, 0], [size, 1, cfg.hiddenSize]), [size, cfg.hiddenSize]);
    });
    const width = values.shape[1] as number;
    let data: Float32Array;
    try {
      data = await readFloats(values);
    } finally {
      values.dispose();
    }
    for (let r = 0; r < size; r++) {
      const row = Array.from(data.subarray(r * width, (r + 1) * width));
      if (opts.output === 'logits') {
        const best = row.indexOf(Math.max(...row));
        out.push({ logits: row, label: fm.classNames[best] ?? String(best) });
      } else out.push({ hidden: row });
    }
  }
  return out;
}

export function disposeModel(fm: LoadedModel): void {
  disposeParams(fm.params);
}
