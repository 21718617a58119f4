import * as tf from '@tensorflow/tfjs-core';
import { stepLearningRate, type StepSchedule } from '../fl/schedule.js';
import { AdamW, DEFAULT_ADAMW } from '../model/adamw.js';
import { clipByGlobalNorm } from '../model/train.js';
import { mustGet, type Params } from '../model/params.js';
import { encoderFfnWidth as ffnWidth, encoderLayerPrefix, ffnLayerNormName, isText, modelForward, realTokenMask, type ModelConfig } from '../model/encoder.js';
import type { LoraOptions } from '../model/layers.js';
import { stream } from '../util/rng.js';
import { readScalar } from '../tensor/read.js';

/**
 * Layer-level distillation of a proxy model (FedPFT's sub-FM, FedOT's adapters + emulator)
 * toward the foundation model (METHOD.md, FedPFT sections 2 and 4, FedOT).
 *
 * Loss, for the compared student layers j (with teacher layer i = teacherLayerOf(j)):
 *
 *   L = mean_j  nmse(O_i, O'_j)  +  mu * mean_j  nmse(W1_i W2_i, W1'_j W2'_j)
 *   nmse(t, s) = mean(((t - s) / sqrt(mean(t^2)))^2) = mean((t - s)^2) / mean(t^2)
 *
 * where O is a layer's output hidden states [batch, tokens, d] (means over every element; for
 * text over the real tokens' elements, padding left out) and
 * W1 W2 the FFN's weight product [d, d] in the internal [in, out] layout (so a sub-FM's
 * narrower FFN still gives a [d, d] product). The student runs its own forward pass, so
 * errors carry from layer to layer. Both terms are averaged over the compared layers, so the
 * scale of `mu` does not depend on how many layers are compressed.
 *
 * The mu term is a real, differentiable function of the student's W1', W2' (the reference
 * code computes it on detached weights, so there it never moves a gradient; mu = 0 gives that
 * code's effective behaviour, and then the term is not computed at all).
 *
 * FedOT: the student is adapters + emulator with fewer layers; pass every student layer in
 * `layers` and `teacherLayerOf = (j) => layerMap[j]`, so emulator layer j is compared with
 * the FM layer it was copied from (layerMap[j]) and the adapter layers with their FM twins.
 * The mu term likewise compares emulator layer j's FFN with FM layer layerMap[j]'s.
 */

export interface DistillModel {
  cfg: ModelConfig;
  params: Params;
}

export interface DistillLossOptions {
  /** Student layers whose outputs are matched (FedPFT: the compressed layers). */
  layers: number[];
  /** Weight of the FFN weight-product term; 0 switches it off. */
  mu: number;
  /** When given, BOTH teacher and student run with LoRA (the aggregated adapters must be plugged into both). */
  lora?: LoraOptions;
  /** Teacher layer whose output student layer j must match; identity by default. */
  teacherLayerOf?: (studentLayer: number) => number;
}

/** HF names of one layer's FFN tensors and of the LayerNorm that feeds it. */
export function ffnTensorNames(cfg: ModelConfig, layer: number): { w1: string; b1: string; w2: string; b2: string; lnWeight: string; lnBias: string } {
  const p = encoderLayerPrefix(cfg, layer);
  const ln = ffnLayerNormName(cfg, layer);
  return {
    w1: `${p}.intermediate.dense.weight`,
    b1: `${p}.intermediate.dense.bias`,
    w2: `${p}.output.dense.weight`,
    b2: `${p}.output.dense.bias`,
    // ViT is pre-LN: HF's "layernorm_after" (after attention) is the FFN's own LayerNorm; for
    // post-LN BERT it is output.LayerNorm, the one METHOD.md calls "the LayerNorm after the FFN".
    lnWeight: `${ln}.weight`,
    lnBias: `${ln}.bias`,
  };
}

/**
 * The trainable set of layer-level distillation for the given layers: W1', b1', W2', b2' and,
 * when `layerNorm`, the FFN's LayerNorm (see ffnTensorNames), sorted.
 */
export function distillTrainableNames(cfg: ModelConfig, layers: readonly number[], layerNorm = true): string[] {
  const names = new Set<string>();
  for (const l of layers) {
    const { lnWeight, lnBias, ...ffn } = ffnTensorNames(cfg, l);
    for (const n of [...Object.values(ffn), ...(layerNorm ? [lnWeight, lnBias] : [])]) names.add(n);
  }
  return [...names].sort();
}

/**
 * Whether FedPFT's distillation steps train the FFN's LayerNorm. `auto` is the reference code's
 * choice: BERT's post-FFN LayerNorm trains; ViT's pre-FFN layernorm_after stays frozen, since
 * moving it would move the inputs of the neurons alignment keeps fixed.
 */
export function trainsFfnLayerNorm(cfg: ModelConfig, choice: 'auto' | 'train' | 'frozen'): boolean {
  return choice === 'auto' ? isText(cfg) : choice === 'train';
}

/** Validates the layer lists and returns the teacher layer of each compared student layer. */
function resolveTeacherLayers(teacher: DistillModel, student: DistillModel, opts: DistillLossOptions): number[] {
  if (opts.layers.length === 0) throw new Error('distillation needs at least one layer to compare');
  if (teacher.cfg.hiddenSize !== student.cfg.hiddenSize) {
    throw new Error(`teacher hidden size ${teacher.cfg.hiddenSize} differs from the student's ${student.cfg.hiddenSize}`);
  }
  if (!Number.isFinite(opts.mu) || opts.mu < 0) throw new Error(`mu must be a finite number >= 0, got ${opts.mu}`);
  const map = opts.teacherLayerOf ?? ((j: number) => j);
  return opts.layers.map((j) => {
    if (!Number.isInteger(j) || j < 0 || j >= student.cfg.numHiddenLayers) {
      throw new Error(`student layer ${j} is out of range (the student has ${student.cfg.numHiddenLayers} layers)`);
    }
    const i = map(j);
    if (!Number.isInteger(i) || i < 0 || i >= teacher.cfg.numHiddenLayers) {
      throw new Error(`student layer ${j} maps to teacher layer ${i}, out of range (the teacher has ${teacher.cfg.numHiddenLayers} layers)`);
    }
    return i;
  });
}

/** With LoRA on, both models must hold adapters, or the forward would silently skip them. */
function checkLora(teacher: DistillModel, student: DistillModel, lora: LoraOptions | undefined): void {
  if (!lora) return;
  for (const [who, m] of [
    ['teacher', teacher],
    ['student', student],
  ] as const) {
    if (![...m.params.keys()].some((n) => n.endsWith('.lora_A.weight'))) {
      throw new Error(`LoRA options were given but the ${who} has no LoRA tensors: plug the aggregated adapters into both teacher and student`);
    }
  }
}

/**
 * The outputs of the listed layers (in list order, repeats allowed) of one forward pass.
 * Call inside a tidy: the returned tensors belong to the caller's scope.
 */
function layerOutputs(model: DistillModel, images: tf.Tensor2D, layers: readonly number[], lora: LoraOptions | undefined): tf.Tensor3D[] {
  const wanted = new Set(layers);
  const got = new Map<number, tf.Tensor3D>();
  const logits = modelForward(model.cfg, model.params, images, {
    lora,
    onLayerOutput: (i, hidden) => {
      if (wanted.has(i)) got.set(i, hidden);
    },
  });
  logits.dispose();
  return layers.map((l) => {
    const h = got.get(l);
    if (!h) throw new Error(`the forward pass reported no output for layer ${l}`);
    return h;
  });
}

/** W1 W2 of one layer, [d, d] (internal layout W1 [d, ff], W2 [ff, d]). */
function ffnProduct(model: DistillModel, layer: number): tf.Tensor2D {
  const { w1, w2 } = ffnTensorNames(model.cfg, layer);
  return tf.matMul(mustGet(model.params, w1) as tf.Tensor2D, mustGet(model.params, w2) as tf.Tensor2D);
}

/**
 * mean(((t - s) / sqrt(mean(t^2)))^2), computed as mean((t - s)^2) / mean(t^2). With a mask of
 * the real token positions ([batch * tokens], text), both means run over those positions only:
 * padding carries no text, and counting it would weight short texts' padding like words.
 */
function normalisedError(t: tf.Tensor, s: tf.Tensor, positions: tf.Tensor1D | null = null): tf.Scalar {
  if (!positions) return tf.div(tf.mean(tf.square(tf.sub(t, s))), tf.mean(tf.square(t))) as tf.Scalar;
  const m = tf.reshape(positions, [t.shape[0] as number, t.shape[1] as number, 1]);
  return tf.div(tf.sum(tf.mul(tf.square(tf.sub(t, s)), m)), tf.sum(tf.mul(tf.square(t), m))) as tf.Scalar;
}

/** The loss given the teacher's outputs (and FFN products when mu > 0) as constants. */
function studentLoss(
  student: DistillModel,
  images: tf.Tensor2D,
  layers: readonly number[],
  targets: readonly tf.Tensor3D[],
  teacherProducts: readonly tf.Tensor2D[] | null,
  mu: number,
  lora: LoraOptions | undefined,
): tf.Scalar {
  const outs = layerOutputs(student, images, layers, lora);
  const positions = realTokenMask(student.cfg, images);
  let hidden: tf.Tensor = tf.scalar(0);
  outs.forEach((s, k) => {
    hidden = tf.add(hidden, normalisedError(targets[k] as tf.Tensor3D, s, positions));
  });
  let loss = tf.div(hidden, layers.length);
  if (mu !== 0 && teacherProducts) {
    let prod: tf.Tensor = tf.scalar(0);
    layers.forEach((j, k) => {
      prod = tf.add(prod, normalisedError(teacherProducts[k] as tf.Tensor2D, ffnProduct(student, j)));
    });
    loss = tf.add(loss, tf.mul(tf.div(prod, layers.length), mu));
  }
  return loss as tf.Scalar;
}

/**
 * The distillation loss on one batch of flattened images [batch, C*H*W]. The teacher's side is
 * computed here too; under a gradient tape, pass a teacher whose tensors are not the variables
 * being differentiated (distill() computes the teacher's side outside the tape instead).
 */
export function distillLoss(teacher: DistillModel, student: DistillModel, images: tf.Tensor2D, opts: DistillLossOptions): tf.Scalar {
  const teacherLayers = resolveTeacherLayers(teacher, student, opts);
  checkLora(teacher, student, opts.lora);
  return tf.tidy(() => {
    const targets = layerOutputs(teacher, images, teacherLayers, opts.lora);
    const products = opts.mu !== 0 ? teacherLayers.map((i) => ffnProduct(teacher, i)) : null;
    return studentLoss(student, images, opts.layers, targets, products, opts.mu, opts.lora);
  });
}

export interface DistillOptions {
  steps: number;
  batchSize: number;
  /** Peak learning rate; step s trains at stepLearningRate(lr, s, steps, schedule). */
  lr: number;
  schedule: StepSchedule;
  /** Clip each step's gradients (after the neuron mask) to this global L2 norm; 0: no clipping. */
  maxGradNorm: number;
  mu: number;
  weightDecay: number;
  seed: number;
  /** Student layers whose outputs are matched (see DistillLossOptions.layers). */
  layers: number[];
  /** Names of the student tensors that train (typically distillTrainableNames(layers)). */
  trainable: string[];
  /**
   * FedPFT's neuron-level alignment: per layer, the FFN neurons allowed to change. For a layer
   * listed here only those neurons' W1' columns (W1' is [d, ff]: neuron k's input weights are
   * column k), b1' entries and W2' rows (W2' is [ff, d]) change; b2' and the FFN LayerNorm, when
   * trainable, update whole. Layers not listed update whole.
   */
  neuronMask?: Map<number /* layer */, number[] /* neuron indices allowed to update */>;
  lora?: LoraOptions;
  teacherLayerOf?: (j: number) => number;
  log?: (step: number, loss: number) => void;
}

interface MaskState {
  /** 0/1 gradient mask, the tensor's shape. */
  gradMask: tf.Tensor;
  /** true where the entry may change. */
  allowed: tf.Tensor;
  /** The tensor's values before distillation, restored where not allowed. */
  frozen: tf.Tensor;
}

/** Builds the 0/1 mask of one FFN tensor: the allowed neurons' columns (axis 1) or rows/entries (axis 0). */
function neuronMaskTensor(shape: readonly number[], neurons: readonly number[], axis: 0 | 1): tf.Tensor {
  const data = new Float32Array(shape.reduce((a, b) => a * b, 1));
  if (shape.length === 1) {
    for (const k of neurons) data[k] = 1;
  } else {
    const [rows, cols] = shape as [number, number];
    for (const k of neurons) {
      if (axis === 1) for (let r = 0; r < rows; r++) data[r * cols + k] = 1;
      else data.fill(1, k * cols, (k + 1) * cols);
    }
  }
  return tf.tensor(data, [...shape], 'float32');
}

/**
 * Trains the student's `trainable` tensors toward the teacher with AdamW for `steps` steps;
 * step s uses batchSize distinct examples drawn by stream(seed, 'distill', s). Returns each
 * step's loss (before that step's update).
 *
 * The trainable tensors become tf.Variables for the duration and plain tensors again at the end
 * (the caller's map keeps plain tensors; a tensor that was already a Variable stays that one).
 * A replaced tensor is disposed unless the teacher's params hold the same tensor object (a
 * sub-FM or emulator may share tensors with the FM). The teacher's side of the loss (hidden
 * states and FFN products) is computed outside the gradient tape, so no gradient reaches it.
 *
 * neuronMask: gradients are multiplied by the 0/1 mask before the AdamW step, so the frozen
 * entries' moments stay zero; and because AdamW's decoupled weight decay would still shrink the
 * frozen entries of W1'/W2', every frozen entry is restored after each step from a snapshot
 * taken before training (an exact select, so frozen neurons stay bit-identical).
 */
export async function distill(
  teacher: DistillModel,
  student: DistillModel,
  data: { features: Float32Array; featureSize: number; n: number },
  opts: DistillOptions,
): Promise<{ losses: number[] }> {
  const lossOpts: DistillLossOptions = { layers: opts.layers, mu: opts.mu, lora: opts.lora, teacherLayerOf: opts.teacherLayerOf };
  const teacherLayers = resolveTeacherLayers(teacher, student, lossOpts);
  checkLora(teacher, student, opts.lora);
  const { features, featureSize, n } = data;
  if (features.length !== n * featureSize) throw new Error(`distillation data has ${features.length} values, expected ${n} x ${featureSize}`);
  if (!Number.isInteger(opts.steps) || opts.steps < 0) throw new Error(`steps must be an integer >= 0, got ${opts.steps}`);
  if (!Number.isInteger(opts.batchSize) || opts.batchSize < 1 || opts.batchSize > n) {
    throw new Error(`batchSize must be an integer in [1, ${n}], got ${opts.batchSize}`);
  }
  const trainable = [...new Set(opts.trainable)].sort();
  if (trainable.length === 0) throw new Error('distillation needs at least one trainable tensor');
  for (const name of trainable) mustGet(student.params, name);
  const maskByName = new Map<string, { neurons: number[]; axis: 0 | 1 }>();
  for (const [layer, neurons] of opts.neuronMask ?? []) {
    if (!Number.isInteger(layer) || layer < 0 || layer >= student.cfg.numHiddenLayers) throw new Error(`neuronMask layer ${layer} is out of range`);
    const ff = ffnWidth(student.cfg, layer);
    for (const k of neurons) if (!Number.isInteger(k) || k < 0 || k >= ff) throw new Error(`neuronMask: layer ${layer} has no neuron ${k} (width ${ff})`);
    const names = ffnTensorNames(student.cfg, layer);
    maskByName.set(names.w1, { neurons, axis: 1 });
    maskByName.set(names.b1, { neurons, axis: 0 });
    maskByName.set(names.w2, { neurons, axis: 0 });
  }

  const teacherTensors = new Set(teacher.params.values());
  const vars = new Map<string, tf.Variable>();
  /** Names whose plain tensor was replaced by a variable (converted back at the end). */
  const converted = new Set<string>();
  const masks = new Map<string, MaskState>();
  let optimizer: AdamW | null = null;
  let products: tf.Tensor2D[] | null = null;
  try {
    for (const name of trainable) {
      const t = mustGet(student.params, name);
      if (t instanceof tf.Variable) {
        vars.set(name, t);
        continue;
      }
      // The variable shares t's buffer until its first assign; t itself is never written.
      const v = tf.variable(t, true);
      student.params.set(name, v);
      if (!teacherTensors.has(t)) t.dispose();
      vars.set(name, v);
      converted.add(name);
    }
    for (const [name, v] of vars) {
      const spec = maskByName.get(name);
      if (!spec) continue;
      const gradMask = neuronMaskTensor(v.shape, spec.neurons, spec.axis);
      const allowed = tf.tidy(() => tf.greater(gradMask, 0.5));
      masks.set(name, { gradMask, allowed, frozen: tf.clone(v) });
    }
    optimizer = new AdamW(vars, { ...DEFAULT_ADAMW, weightDecay: opts.weightDecay });
    const opt = optimizer;
    // The teacher's weights are fixed: its FFN products are constants for the whole run.
    products = opts.mu !== 0 ? tf.tidy(() => teacherLayers.map((i) => ffnProduct(teacher, i))) : null;
    const varList = [...vars.values()];
    const losses: number[] = [];
    for (let step = 0; step < opts.steps; step++) {
      const idx = stream(opts.seed, 'distill', step).sample(n, opts.batchSize);
      const batch = new Float32Array(opts.batchSize * featureSize);
      idx.forEach((e, r) => batch.set(features.subarray(e * featureSize, (e + 1) * featureSize), r * featureSize));
      const x = tf.tensor2d(batch, [opts.batchSize, featureSize]);
      // Teacher outputs first, outside the tape: constants to the student's loss.
      const targets = tf.tidy(() => layerOutputs(teacher, x, teacherLayers, opts.lora));
      const value = tf.tidy(() => {
        const { value, grads } = tf.variableGrads(
          () => studentLoss(student, x, opts.layers, targets, products, opts.mu, opts.lora),
          varList,
        );
        const byName: tf.NamedTensorMap = {};
        for (const [name, v] of vars) {
          const g = grads[v.name];
          if (!g) continue;
          const m = masks.get(name);
          byName[name] = m ? tf.mul(g, m.gradMask) : g;
        }
        opt.step(clipByGlobalNorm(byName, opts.maxGradNorm), stepLearningRate(opts.lr, step, opts.steps, opts.schedule));
        return value;
      });
      if (masks.size > 0) {
        tf.tidy(() => {
          for (const [name, m] of masks) {
            const v = vars.get(name) as tf.Variable;
            v.assign(tf.where(m.allowed, v, m.frozen));
          }
        });
      }
      let loss: number;
      try {
        loss = await readScalar(value);
      } finally {
        tf.dispose([value, x, ...targets]);
      }
      losses.push(loss);
      opts.log?.(step, loss);
    }
    return { losses };
  } finally {
    optimizer?.dispose();
    if (products) tf.dispose(products);
    for (const m of masks.values()) tf.dispose([m.gradMask, m.allowed, m.frozen]);
    for (const name of converted) {
      const v = vars.get(name) as tf.Variable;
      student.params.set(name, tf.clone(v));
      v.dispose();
    }
  }
}
