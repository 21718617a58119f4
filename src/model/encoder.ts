import * as tf from '@tensorflow/tfjs-core';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { tokensOfFeatureSize, type InputShape } from '../data/dataset.js';
import { readVocabTxt, TextTokenizer } from '../text/tokenizer.js';
import { UserError } from '../util/errors.js';
import { Rng } from '../util/rng.js';
import { bertConfigFromHF, loadBert, saveBert } from './bert-checkpoint.js';
import {
  bertFfnWidth,
  bertForward,
  bertForwardMacs,
  bertHeadShapes,
  bertLayerPrefix,
  bertParamShapes,
  initBertLoraParams,
  initBertTensors,
  maxSequenceLength,
  type BertConfig,
} from './bert.js';
import { readCheckpointConfig } from './checkpoint.js';
import type { ForwardOptions } from './layers.js';
import type { Params } from './params.js';
import { loadVit, saveVit, vitConfigFromHF } from './vit-checkpoint.js';
import { ffnWidth as vitFfnWidth, initLoraParams as initVitLora, initVitParams, layerPrefix as vitLayerPrefix, numPatches, vitForward, vitForwardMacs, vitParamShapes, type VitConfig } from './vit.js';

/**
 * One face for every encoder the simulator runs (ViT for images, BERT/RoBERTa for text), so
 * methods, proxies and actors never branch on the architecture themselves.
 */
export type ModelConfig = VitConfig | BertConfig;

export function isText(cfg: ModelConfig): cfg is BertConfig {
  return cfg.modelType !== 'vit';
}

export function modelForward(cfg: ModelConfig, params: Params, x: tf.Tensor2D, opts: ForwardOptions = {}): tf.Tensor2D {
  return isText(cfg) ? bertForward(cfg, params, x, opts) : vitForward(cfg, params, x, opts);
}

export function encoderLayerPrefix(cfg: ModelConfig, layer: number): string {
  return isText(cfg) ? bertLayerPrefix(cfg, layer) : vitLayerPrefix(layer);
}

export function encoderFfnWidth(cfg: ModelConfig, layer: number): number {
  return isText(cfg) ? bertFfnWidth(cfg, layer) : vitFfnWidth(cfg, layer);
}

/** The LayerNorm that belongs with a layer's FFN (ViT is pre-LN: the one before it; BERT is post-LN: the one after it). */
export function ffnLayerNormName(cfg: ModelConfig, layer: number): string {
  const p = encoderLayerPrefix(cfg, layer);
  return isText(cfg) ? `${p}.output.LayerNorm` : `${p}.layernorm_after`;
}

/** Token positions per example: patches + [CLS] for images, the padded length for text (features of three planes). */
export function tokensPerExample(cfg: ModelConfig, featureSize: number): number {
  return isText(cfg) ? tokensOfFeatureSize(featureSize) : numPatches(cfg) + 1;
}

/** Multiply-adds of one forward pass per example of `featureSize` features. */
export function forwardMacs(cfg: ModelConfig, featureSize: number, loraRank = 0): number {
  return isText(cfg) ? bertForwardMacs(cfg, tokensOfFeatureSize(featureSize), loraRank) : vitForwardMacs(cfg, loraRank);
}

export function paramShapes(cfg: ModelConfig): Map<string, number[]> {
  return isText(cfg) ? bertParamShapes(cfg) : vitParamShapes(cfg);
}

/** The classification head's tensors (all of them train and travel with the LoRA adapters). */
export function headShapes(cfg: ModelConfig): Map<string, number[]> {
  if (isText(cfg)) return bertHeadShapes(cfg);
  return new Map([
    ['classifier.weight', [cfg.hiddenSize, cfg.numLabels]],
    ['classifier.bias', [cfg.numLabels]],
  ]);
}

/** HF's random initialisation of every tensor of the model (encoder and head). */
export function initModelParams(cfg: ModelConfig, rng: Rng): Params {
  return isText(cfg) ? initBertTensors(bertParamShapes(cfg), rng) : initVitParams(cfg, rng);
}

export function initLoraParams(cfg: ModelConfig, rank: number, rng: Rng): Params {
  return isText(cfg) ? initBertLoraParams(cfg, rank, rng) : initVitLora(cfg, rank, rng);
}

export interface LoadedModel {
  cfg: ModelConfig;
  params: Params;
  classNames: string[];
  dir: string;
  /** Text FMs: the tokenizer.json next to the weights. */
  tokenizer?: TextTokenizer;
}

/** A config.json of any supported model_type, validated. */
export function modelConfigFromHF(json: Record<string, unknown>, file: string): ModelConfig {
  const type = json['model_type'];
  if (type === 'vit') return vitConfigFromHF(json, file);
  if (type === 'bert' || type === 'roberta') return bertConfigFromHF(json, file);
  throw new UserError(file, 'model_type', `expected "vit", "bert" or "roberta", got ${JSON.stringify(type)}`);
}

/** The architecture in a checkpoint directory's config.json, without reading its weights. */
export function readModelConfig(dir: string): ModelConfig {
  return modelConfigFromHF(readCheckpointConfig(dir), join(dir, 'config.json'));
}

/** Loads a HF checkpoint directory of any supported model_type (vit, bert, roberta). */
export function loadModel(dir: string): LoadedModel {
  const cfg = readModelConfig(dir);
  if (!isText(cfg)) return loadVit(dir);
  const { params, classNames } = loadBert(dir);
  return { cfg, params, classNames, dir, tokenizer: loadTokenizer(dir) };
}

/** tokenizer.json, or else vocab.txt (cased when tokenizer_config.json says do_lower_case: false). */
export function loadTokenizer(dir: string): TextTokenizer {
  const json = join(dir, 'tokenizer.json');
  if (existsSync(json)) return TextTokenizer.fromFile(json);
  const vocab = join(dir, 'vocab.txt');
  if (!existsSync(vocab)) throw new UserError(dir, 'tokenizer.json', 'a text FM needs tokenizer.json (or vocab.txt) next to config.json');
  const configFile = join(dir, 'tokenizer_config.json');
  let lowercase = true;
  if (existsSync(configFile)) {
    try {
      lowercase = (JSON.parse(readFileSync(configFile, 'utf8')) as { do_lower_case?: unknown }).do_lower_case !== false;
    } catch (err) {
      throw new UserError(configFile, '', `invalid JSON (${(err as Error).message.replace(/\s+/g, ' ').slice(0, 200)})`);
    }
  }
  return readVocabTxt(vocab, lowercase);
}

/**
 * Why an FM cannot read a task's inputs, or null: a ViT needs images of its size and channels,
 * a text FM token ids within its vocabulary, position table and pad id.
 */
export function inputMismatch(cfg: ModelConfig, input: InputShape, dataset: string, tokenizer?: TextTokenizer): string | null {
  if (!isText(cfg)) {
    const want = `${cfg.numChannels}x${cfg.imageSize}x${cfg.imageSize} images`;
    if (input.kind !== 'image') return `the ViT FM takes ${want}; ${dataset} is a text dataset`;
    if (cfg.imageSize !== input.height || cfg.imageSize !== input.width || cfg.numChannels !== input.channels) {
      return `the FM takes ${want}, ${dataset} has ${input.channels}x${input.height}x${input.width}`;
    }
    return null;
  }
  if (input.kind !== 'tokens') return `the ${cfg.modelType} FM takes text; ${dataset} is an image dataset`;
  if (input.maxLength > maxSequenceLength(cfg)) return `task.maxLength ${input.maxLength} exceeds the FM's ${maxSequenceLength(cfg)} positions`;
  if (input.padTokenId !== cfg.padTokenId) return `the tokenizer pads with id ${input.padTokenId}, the FM's pad_token_id is ${cfg.padTokenId}`;
  if (tokenizer && tokenizer.vocabSize > cfg.vocabSize) return `the tokenizer has ${tokenizer.vocabSize} tokens, the FM's vocab_size is ${cfg.vocabSize}`;
  return null;
}

export function saveModel(dir: string, cfg: ModelConfig, params: Params, classNames: readonly string[], metadata: Record<string, string> = {}): Promise<{ sha256: string }> {
  return isText(cfg) ? saveBert(dir, cfg, params, classNames, metadata) : saveVit(dir, cfg, params, classNames, metadata);
}

/**
 * [batch * tokens] 1/0 weights of real (attended) token positions for text inputs, in the order
 * of the hidden-state rows: the features' attention-mask plane, so a literal pad token in a text
 * counts as real, as the model attends to it; null for images, where every position is real.
 */
export function realTokenMask(cfg: ModelConfig, x: tf.Tensor2D): tf.Tensor1D | null {
  if (!isText(cfg)) return null;
  const [b, width] = x.shape;
  const t = tokensOfFeatureSize(width);
  return tf.reshape(tf.cast(tf.slice(x, [0, 2 * t], [b, t]), 'float32'), [b * t]) as tf.Tensor1D;
}
