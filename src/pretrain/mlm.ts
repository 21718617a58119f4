import * as tf from '@tensorflow/tfjs-core';
import { copyFileSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tokenFeatureSize } from '../data/dataset.js';
import { AdamW, DEFAULT_ADAMW } from '../model/adamw.js';
import { loadBert, saveBert } from '../model/bert-checkpoint.js';
import { bertEncoderShapes, bertMaskedLm, initBertTensors, maxSequenceLength, mlmHeadShapes, type BertConfig } from '../model/bert.js';
import { sha256File } from '../model/checkpoint.js';
import { disposeParams, type Params } from '../model/params.js';
import { crossEntropy, makeTrainable, trainStep } from '../model/train.js';
import { initBackend } from '../tensor/backend.js';
import { readScalar } from '../tensor/read.js';
import { unlabelledText } from '../text/datasets.js';
import { TextTokenizer, trainWordPiece, writeTokenizerJson } from '../text/tokenizer.js';
import { UserError } from '../util/errors.js';
import { Rng, stream } from '../util/rng.js';
import { loopSteps, restoreLoopState, runPretrainLoop, type PretrainOptions, type PretrainResult } from './loop.js';
import { maskBatch, packWindows, splitWindows, type PackedWindows, type SpecialIds } from './mlm-data.js';
import type { MlmRecipe } from './recipe.js';

const TOKENIZER_FILE = 'tokenizer.json';
/** Held-out windows scored at the end (all of them, up to this many). */
const MAX_VALIDATION_WINDOWS = 1024;
const VALIDATION_BATCH = 32;

/** BERT-style masked-LM pretraining of a text FM; deterministic and resumable like the image pretrainer. */
export async function pretrainMlm(recipe: MlmRecipe, recipeFile: string, opts: PretrainOptions = {}): Promise<PretrainResult> {
  const log = opts.log ?? ((line: string) => console.log(line));
  // A recipe records no kernel set: it runs the stock bits, so the shipped FMs reproduce anywhere.
  const backend = await initBackend(recipe.backend, 'exact');
  const partial = `${recipe.out}.partial`;
  mkdirSync(partial, { recursive: true });

  const texts = recipe.corpora.flatMap((c) => unlabelledText(c).slice(0, recipe.maxTextsPerCorpus));
  const tokenizerFile = join(partial, TOKENIZER_FILE);
  const start = recipe.init === undefined ? null : initialFm(recipe.init, recipeFile, recipe.maxLength);
  if (!existsSync(tokenizerFile)) {
    if (start) copyFileSync(start.tokenizerFile, tokenizerFile);
    else if (recipe.tokenizer) {
      log(`training a ${recipe.tokenizer.vocabSize}-token WordPiece vocabulary on ${texts.length} texts of ${recipe.corpora.join(', ')}`);
      writeTokenizerJson(tokenizerFile, trainWordPiece(texts, { vocabSize: recipe.tokenizer.vocabSize, minFrequency: recipe.tokenizer.minFrequency }));
    }
  }
  const tokenizer = TextTokenizer.fromFile(tokenizerFile);
  const specials = specialIds(tokenizer, tokenizerFile);
  const windows = packWindows(texts, (t) => tokenizer.ids(t), recipe.maxLength, specials, recipe.maxTokensPerText);
  const split = splitWindows(windows.n, recipe.validationEvery);
  const { stepsPerEpoch, totalSteps } = loopSteps(split.train.length, recipe);
  if (stepsPerEpoch < 1) throw new UserError(recipeFile, 'batchSize', `${split.train.length} training windows make no batch of ${recipe.batchSize}`);

  let cfg: BertConfig;
  let params: Params;
  if (start) {
    ({ cfg, params } = start);
  } else {
    const arch = recipe.arch as NonNullable<MlmRecipe['arch']>;
    cfg = {
      modelType: 'bert',
      vocabSize: tokenizer.vocabSize,
      hiddenSize: arch.hiddenSize,
      numHiddenLayers: arch.numHiddenLayers,
      numAttentionHeads: arch.numAttentionHeads,
      intermediateSize: arch.intermediateSize,
      maxPositionEmbeddings: recipe.maxLength,
      typeVocabSize: 2,
      layerNormEps: 1e-12,
      padTokenId: tokenizer.padId ?? 0,
      hiddenDropoutProb: arch.hiddenDropoutProb,
      numLabels: 2,
    };
    params = initBertTensors(new Map([...bertEncoderShapes(cfg), ...mlmHeadShapes(cfg)]), new Rng(`${recipe.seed}/mlm-init`));
  }
  const vars = makeTrainable(params, [...params.keys()]);
  const optimizer = new AdamW(vars, { ...DEFAULT_ADAMW, weightDecay: recipe.weightDecay });
  const resumed = restoreLoopState(partial, vars, optimizer);
  if (resumed > 0) log(`resuming ${recipe.name} at step ${resumed}/${totalSteps}`);
  else {
    if (start) log(`continuing from ${recipe.init} (sha256 ${start.sha256.slice(0, 12)}…)`);
    log(`pretraining ${recipe.name}: ${windows.n} windows of ${recipe.maxLength} tokens (${split.validation.length} held out), ${totalSteps} steps of ${recipe.batchSize} on ${backend.name}`);
  }

  const step = await runPretrainLoop(
    {
      partial,
      vars,
      optimizer,
      recipe,
      items: split.train,
      orderPurpose: 'mlm-order',
      stopAfterSteps: opts.stopAfterSteps,
      log,
      trainStep: async (s, lr, indices) => {
        const batch = maskBatch(windows, indices, specials, recipe.maskProbability, stream(recipe.seed, 'mlm-mask', s));
        const dropoutSeed = stream(recipe.seed, 'mlm-dropout', s).seed();
        const x = tf.tensor2d(batch.features, [batch.features.length / tokenFeatureSize(recipe.maxLength), tokenFeatureSize(recipe.maxLength)]);
        const rows = tf.tensor1d(batch.rows, 'int32');
        try {
          return await trainStep(() => crossEntropy(bertMaskedLm(cfg, params, x, rows, { dropoutSeed }), batch.labels), vars, optimizer, lr);
        } finally {
          tf.dispose([x, rows]);
        }
      },
    },
    resumed,
  );
  if (step < totalSteps) {
    optimizer.dispose();
    disposeParams(params);
    return { done: false, step, totalSteps, backend: backend.name };
  }

  const val = await maskedLmScore(cfg, params, windows, split.validation.slice(0, MAX_VALIDATION_WINDOWS), specials, recipe);
  log(`held-out masked-token loss ${val.loss.toFixed(4)}, accuracy ${(val.accuracy * 100).toFixed(2)}% on ${val.tokens} tokens of ${val.windows} windows`);
  const provenance: Record<string, string> = start ? { init: recipe.init ?? '', initSha256: start.sha256 } : {};
  const { sha256 } = await saveBert(recipe.out, cfg, params, ['LABEL_0', 'LABEL_1'], { recipe: recipe.name, seed: String(recipe.seed), ...provenance });
  copyFileSync(tokenizerFile, join(recipe.out, TOKENIZER_FILE));
  copyFileSync(join(partial, 'train-log.jsonl'), join(recipe.out, 'train-log.jsonl'));
  writeFileSync(join(recipe.out, 'recipe.json'), readFileSync(recipeFile, 'utf8'));
  const tokenizerSha = sha256File(join(recipe.out, TOKENIZER_FILE));
  writeFileSync(
    join(recipe.out, 'pretrain.json'),
    JSON.stringify(
      {
        recipe: recipe.name,
        objective: 'mlm',
        ...provenance,
        seed: recipe.seed,
        steps: totalSteps,
        windows: windows.n,
        tokens: windows.n * recipe.maxLength,
        backend: backend.name,
        tfjs: backend.tfjsVersion,
        heldOutMaskedLoss: val.loss,
        heldOutMaskedAccuracy: val.accuracy,
        heldOutMaskedTokens: val.tokens,
        sha256,
        tokenizerSha256: tokenizerSha,
      },
      null,
      2,
    ) + '\n',
  );
  writeFileSync(join(recipe.out, 'SHA256SUMS'), `${sha256}  model.safetensors\n${tokenizerSha}  ${TOKENIZER_FILE}\n`);
  optimizer.dispose();
  disposeParams(params);
  rmSync(partial, { recursive: true, force: true });
  return { done: true, step, totalSteps, sha256, backend: backend.name, heldOutMaskedAccuracy: val.accuracy };
}

/**
 * The text FM a recipe continues from: its config (the window length must fit its positions), its
 * encoder and masked-LM head weights (a head it lacks starts from the recipe's seed) and its
 * tokenizer.json. A pooler or classifier it carries is dropped: masked-LM training gives them no
 * gradient, and weight decay alone would shrink them.
 */
function initialFm(dir: string, recipeFile: string, maxLength: number): { cfg: BertConfig; params: Params; tokenizerFile: string; sha256: string } {
  if (!existsSync(join(dir, 'config.json'))) throw new UserError(recipeFile, 'init', `${dir} is not an FM directory (no config.json)`);
  const tokenizerFile = join(dir, TOKENIZER_FILE);
  if (!existsSync(tokenizerFile)) throw new UserError(recipeFile, 'init', `${dir} has no ${TOKENIZER_FILE}; continued pretraining keeps the FM's tokenizer`);
  const fm = loadBert(dir);
  const cfg: BertConfig = { ...fm.cfg, numLabels: 2 };
  if (cfg.modelType !== 'bert') {
    disposeParams(fm.params);
    throw new UserError(recipeFile, 'init', `${dir} is a ${cfg.modelType} FM; masked-LM pretraining continues BERT FMs`);
  }
  if (maxLength > maxSequenceLength(cfg)) {
    disposeParams(fm.params);
    throw new UserError(recipeFile, 'maxLength', `${maxLength} tokens do not fit ${dir}'s ${maxSequenceLength(cfg)} positions`);
  }
  const keep = new Map([...bertEncoderShapes(cfg), ...mlmHeadShapes(cfg)]);
  const params: Params = new Map();
  for (const [name, t] of fm.params) {
    if (keep.has(name)) params.set(name, t);
    else t.dispose();
  }
  if (!fm.hasMaskedLmHead) for (const [name, t] of initBertTensors(mlmHeadShapes(cfg), new Rng(`${dir}/mlm-head-init`))) params.set(name, t);
  return { cfg, params, tokenizerFile, sha256: sha256File(join(dir, 'model.safetensors')) };
}

export function specialIds(tokenizer: TextTokenizer, file: string): SpecialIds {
  const need = (token: string) => {
    const id = tokenizer.tokenToId(token);
    if (id === undefined) throw new UserError(file, 'added_tokens', `masked-LM pretraining needs a ${token} token`);
    return id;
  };
  return { cls: need('[CLS]'), sep: need('[SEP]'), mask: need('[MASK]'), special: tokenizer.specialIds, vocabSize: tokenizer.vocabSize };
}

/** Mean masked-token cross-entropy and accuracy over held-out windows, with seeded masks. */
export async function maskedLmScore(
  cfg: BertConfig,
  params: Params,
  windows: PackedWindows,
  indices: readonly number[],
  specials: SpecialIds,
  recipe: Pick<MlmRecipe, 'seed' | 'maskProbability' | 'maxLength'>,
): Promise<{ loss: number; accuracy: number; tokens: number; windows: number }> {
  let lossSum = 0;
  let correct = 0;
  let tokens = 0;
  for (let start = 0; start < indices.length; start += VALIDATION_BATCH) {
    const batch = maskBatch(windows, indices.slice(start, start + VALIDATION_BATCH), specials, recipe.maskProbability, stream(recipe.seed, 'mlm-validation', start));
    const [loss, hits] = tf.tidy(() => {
      const x = tf.tensor2d(batch.features, [batch.features.length / tokenFeatureSize(recipe.maxLength), tokenFeatureSize(recipe.maxLength)]);
      const logits = bertMaskedLm(cfg, params, x, tf.tensor1d(batch.rows, 'int32'));
      const labels = tf.tensor1d(batch.labels, 'int32');
      return [tf.mul(crossEntropy(logits, batch.labels), batch.labels.length), tf.sum(tf.cast(tf.equal(tf.argMax(logits, 1), labels), 'float32'))];
    });
    try {
      lossSum += await readScalar(loss);
      correct += await readScalar(hits);
    } finally {
      loss.dispose();
      hits.dispose();
    }
    tokens += batch.labels.length;
  }
  return { loss: lossSum / Math.max(1, tokens), accuracy: correct / Math.max(1, tokens), tokens, windows: indices.length };
}
