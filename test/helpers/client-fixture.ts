import { toNamedArrays, trainableNames, withLoraAndHead } from '../../src/methods/lora-setup.js';
import type { ClientModelSpec } from '../../src/methods/method.js';
import type { SharedImages } from '../../src/client/local-train.js';
import { disposeParams, flattenParams } from '../../src/model/params.js';
import { initVitParams, type VitConfig } from '../../src/model/vit.js';
import { Rng } from '../../src/util/rng.js';
import { tinyVit } from './kit.js';

/** A 2-layer ViT on 8x8 images with 3 classes, LoRA r = 4: the client tests' model. */
export const CLIENT_CFG: VitConfig = tinyVit({ imageSize: 8, patchSize: 4, numLabels: 3 });
export const CLIENT_LORA = { rank: 4, alpha: 8, dropout: 0.1 };
/** The method of fixture tasks: FedPETuning's client half is the default local training. */
export const DEFAULT_TRAINING = { options: { name: 'fedpetuning' } };

/**
 * The client model spec (seeded random FM with LoRA and head), its initial trainable vector, and
 * 48 learnable images (the label decides which quarter is bright), on the current backend.
 */
export async function clientFixture(): Promise<{ spec: ClientModelSpec; initial: Float32Array; data: SharedImages }> {
  const base = initVitParams(CLIENT_CFG, new Rng('fm'));
  const { cfg: taskCfg, params, exchanged } = withLoraAndHead(base, CLIENT_CFG, 3, CLIENT_LORA, 1, 'auto');
  const trainable = trainableNames(params, exchanged);
  const spec = { config: taskCfg, tensors: await toNamedArrays(params), trainable, lora: CLIENT_LORA };
  const initial = await flattenParams(params, trainable);
  disposeParams(params);
  disposeParams(base);
  const rng = new Rng('data');
  const n = 48;
  const features = new Float32Array(n * 64);
  const labels = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    labels[i] = i % 3;
    for (let p = 0; p < 64; p++) features[i * 64 + p] = 0.2 * rng.next() + (Math.floor(p / 16) === labels[i] ? 0.8 : 0);
  }
  return { spec, initial, data: { features, labels, featureSize: 64 } };
}
