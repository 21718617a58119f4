import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import type { BertConfig } from '../src/model/bert.js';
import { initModelParams, modelForward } from '../src/model/encoder.js';
import { disposeParams, mustGet, type Params } from '../src/model/params.js';
import { initLoraParams, layerPrefix, vitForward, vitParamShapes, type LoraOptions, type VitConfig } from '../src/model/vit.js';
import { distill, distillLoss, distillTrainableNames, ffnTensorNames, type DistillModel, type DistillOptions } from '../src/proxy/distill.js';
import { initBackend } from '../src/tensor/backend.js';
import { Rng } from '../src/util/rng.js';
import { randomWeights, tinyBert, tinyVit, toParams } from './helpers/kit.js';
import { expectClose, randomNormal, randomUniform } from './helpers/numeric.js';

/** hidden 16, 3 layers, 2 heads, ff 64, 8x8 one-channel images in 4x4 patches (5 tokens). */
const TEACHER_CFG: VitConfig = tinyVit({ numHiddenLayers: 3, intermediateSize: 64, imageSize: 8, patchSize: 4, numLabels: 3, layerNormEps: 1e-6 });
const D = 16;
const FF = 64;
const KEEP = 16;
const MID = 1;
/** The sub-FM: the middle layer's FFN sliced to 16 neurons by hand. */
const STUDENT_CFG: VitConfig = { ...TEACHER_CFG, intermediateSizes: [FF, KEEP, FF] };
const FEATURES = 64;
const N_DATA = 32;
const LORA: LoraOptions = { rank: 2, alpha: 4, dropout: 0.1 };

/** Random weights scaled so every path moves the hidden states by O(1) (HF's 0.02 init would hide mistakes). */
function randomParams(cfg: VitConfig, rng: Rng): Params {
  return toParams(randomWeights(vitParamShapes(cfg), rng, { weight: 'fan-in', bias: 0.1, layerNorm: 0.1, embedding: 0.5 }));
}

/** Kept neurons of the middle layer: a fixed, non-contiguous selection. */
const KEPT = Array.from({ length: KEEP }, (_, k) => (k * 4 + (k % 3)) % FF).sort((a, b) => a - b);

/** The sub-FM: clones of the teacher's tensors, with the middle FFN's W1 columns, b1 entries and W2 rows sliced to KEPT. */
function makeStudent(teacher: Params): Params {
  const student: Params = new Map();
  const names = ffnTensorNames(TEACHER_CFG, MID);
  for (const [name, t] of teacher) {
    const data = t.dataSync() as Float32Array;
    if (name === names.w1) {
      const out = new Float32Array(D * KEEP);
      for (let r = 0; r < D; r++) KEPT.forEach((k, c) => (out[r * KEEP + c] = data[r * FF + k] as number));
      student.set(name, tf.tensor(out, [D, KEEP], 'float32'));
    } else if (name === names.b1) {
      student.set(name, tf.tensor(Float32Array.from(KEPT, (k) => data[k] as number), [KEEP], 'float32'));
    } else if (name === names.w2) {
      const out = new Float32Array(KEEP * D);
      KEPT.forEach((k, r) => out.set(data.subarray(k * D, (k + 1) * D), r * D));
      student.set(name, tf.tensor(out, [KEEP, D], 'float32'));
    } else {
      student.set(name, tf.tensor(data.slice(), t.shape, 'float32'));
    }
  }
  return student;
}

function cloneParams(p: Params): Params {
  return new Map([...p].map(([n, t]) => [n, tf.tensor((t.dataSync() as Float32Array).slice(), t.shape, 'float32')]));
}

function snapshot(p: Params): Map<string, Float32Array> {
  return new Map([...p].map(([n, t]) => [n, (t.dataSync() as Float32Array).slice()]));
}

/** Every layer's output of a tfjs forward pass, as plain arrays. */
function hiddenStates(cfg: VitConfig, params: Params, x: tf.Tensor2D, lora?: LoraOptions): Float32Array[] {
  const out: Float32Array[] = [];
  tf.tidy(() => {
    vitForward(cfg, params, x, { lora, onLayerOutput: (i, h) => (out[i] = (h.dataSync() as Float32Array).slice()) });
  });
  return out;
}

/** mean((t - s)^2) / mean(t^2) in float64. */
function jsNmse(t: ArrayLike<number>, s: ArrayLike<number>): number {
  let num = 0;
  let den = 0;
  for (let i = 0; i < t.length; i++) {
    num += ((t[i] as number) - (s[i] as number)) ** 2;
    den += (t[i] as number) ** 2;
  }
  return num / den;
}

/** A [r, k] @ B [k, c] in float64, row-major. */
function jsMatMul(a: ArrayLike<number>, b: ArrayLike<number>, r: number, k: number, c: number): Float64Array {
  const out = new Float64Array(r * c);
  for (let i = 0; i < r; i++) for (let j = 0; j < c; j++) {
    let s = 0;
    for (let m = 0; m < k; m++) s += (a[i * k + m] as number) * (b[m * c + j] as number);
    out[i * c + j] = s;
  }
  return out;
}

function ffnProductJs(p: Params, layer: number): Float64Array {
  const { w1, w2 } = ffnTensorNames(TEACHER_CFG, layer);
  const a = mustGet(p, w1);
  return jsMatMul(a.dataSync(), mustGet(p, w2).dataSync(), D, a.shape[1] as number, D);
}

/** The distillation loss computed in plain JS from captured hidden states and weights. */
function jsLoss(
  teacher: DistillModel,
  student: DistillModel,
  x: tf.Tensor2D,
  layers: number[],
  mu: number,
  map: (j: number) => number = (j) => j,
  lora?: LoraOptions,
): { hidden: number; prod: number; total: number } {
  const th = hiddenStates(teacher.cfg as VitConfig, teacher.params, x, lora);
  const sh = hiddenStates(student.cfg as VitConfig, student.params, x, lora);
  const hidden = layers.reduce((s, j) => s + jsNmse(th[map(j)] as Float32Array, sh[j] as Float32Array), 0) / layers.length;
  const prod = layers.reduce((s, j) => s + jsNmse(ffnProductJs(teacher.params, map(j)), ffnProductJs(student.params, j)), 0) / layers.length;
  return { hidden, prod, total: hidden + mu * prod };
}

function scalar(t: tf.Scalar): number {
  const v = (t.dataSync() as Float32Array)[0] as number;
  t.dispose();
  return v;
}

let teacher: DistillModel;
let images: Float32Array;

beforeAll(async () => {
  await initBackend('wasm', 'exact');
  teacher = { cfg: TEACHER_CFG, params: randomParams(TEACHER_CFG, new Rng('distill-teacher')) };
  images = randomUniform(new Rng('distill-images'), N_DATA * FEATURES);
});

function batch(start: number, count: number): tf.Tensor2D {
  return tf.tensor2d(images.slice(start * FEATURES, (start + count) * FEATURES), [count, FEATURES]);
}

const MID_TRAINABLE = distillTrainableNames(TEACHER_CFG, [MID]);
/** A constant rate and no clipping: the plain AdamW steps these tests compute by hand. */
const PLAIN = { schedule: { kind: 'constant' }, maxGradNorm: 0 } as const;

describe('distillLoss', () => {
  it('equals a plain-JS normalised hidden-state MSE (mu = 0) and adds mu times the W1 W2 term', () => {
    const student: DistillModel = { cfg: STUDENT_CFG, params: makeStudent(teacher.params) };
    const x = batch(0, 6);
    for (const layers of [[MID], [MID, 2]]) {
      const ref = jsLoss(teacher, student, x, layers, 0.7);
      expect(ref.hidden).toBeGreaterThan(1e-4);
      expect(ref.prod).toBeGreaterThan(1e-3);
      expectClose([scalar(distillLoss(teacher, student, x, { layers, mu: 0 }))], [ref.hidden], 1e-4, `mu=0 layers ${layers}`);
      expectClose([scalar(distillLoss(teacher, student, x, { layers, mu: 0.7 }))], [ref.total], 1e-4, `mu=0.7 layers ${layers}`);
    }
    // Layer 2 is uncompressed, yet its error is non-zero: the student runs its own forward pass.
    expect(jsLoss(teacher, student, x, [2], 0).hidden).toBeGreaterThan(1e-6);
    // An unchanged layer contributes nothing to the weight-product term.
    expect(jsLoss(teacher, student, x, [2], 1).prod).toBe(0);
    x.dispose();
    disposeParams(student.params);
  });

  it('the mu term has the analytic gradient w.r.t. W1\' (differentiable, not detached)', () => {
    const student: DistillModel = { cfg: STUDENT_CFG, params: makeStudent(teacher.params) };
    const { w1, w2 } = ffnTensorNames(TEACHER_CFG, MID);
    const w1Var = tf.variable(mustGet(student.params, w1), true);
    const plain = mustGet(student.params, w1);
    student.params.set(w1, w1Var);
    plain.dispose();
    const x = batch(0, 4);
    const gradFor = (mu: number): Float32Array =>
      tf.tidy(() => {
        const { grads } = tf.variableGrads(() => distillLoss(teacher, student, x, { layers: [MID], mu }), [w1Var]);
        return grads[w1Var.name] as tf.Tensor;
      }).dataSync() as Float32Array;
    const mu = 0.5;
    const g0 = gradFor(0);
    const g1 = gradFor(mu);
    const diff = g1.map((v, i) => v - (g0[i] as number));
    // d/dW1' of mean((P - W1' W2')^2) / mean(P^2) = -2 (P - W1' W2') W2'^T / (d^2 mean(P^2)).
    const p = ffnProductJs(teacher.params, MID);
    const ps = ffnProductJs(student.params, MID);
    const w2d = mustGet(student.params, w2).dataSync();
    const den = p.reduce((s, v) => s + v * v, 0);
    const expected = new Float64Array(D * KEEP);
    for (let r = 0; r < D; r++) for (let k = 0; k < KEEP; k++) {
      let s = 0;
      for (let c = 0; c < D; c++) s += ((p[r * D + c] as number) - (ps[r * D + c] as number)) * (w2d[k * D + c] as number);
      expected[r * KEEP + k] = (mu * -2 * s) / den;
    }
    expect(Math.max(...expected.map(Math.abs))).toBeGreaterThan(1e-4);
    expectClose(diff, expected, 2e-3, 'mu-term gradient', 1e-3);
    x.dispose();
    disposeParams(student.params);
  });

  it('with LoRA, teacher and student both run with the adapters', () => {
    const lora = initLoraParams(TEACHER_CFG, LORA.rank, new Rng('distill-lora'));
    const rngB = new Rng('distill-lora-b');
    for (const [n, t] of lora) if (n.endsWith('lora_B.weight')) {
      lora.set(n, tf.tensor(randomNormal(rngB, t.size, 0.3), t.shape, 'float32'));
      t.dispose();
    }
    const withLora = (p: Params): Params => {
      const out = cloneParams(p);
      for (const [n, t] of lora) out.set(n, tf.clone(t));
      return out;
    };
    const t: DistillModel = { cfg: TEACHER_CFG, params: withLora(teacher.params) };
    const s: DistillModel = { cfg: STUDENT_CFG, params: withLora(makeStudent(teacher.params)) };
    const x = batch(0, 5);
    const opts = { layers: [MID, 2], mu: 0.3, lora: LORA };
    const got = scalar(distillLoss(t, s, x, opts));
    expectClose([got], [jsLoss(t, s, x, [MID, 2], 0.3, undefined, LORA).total], 1e-4, 'loss with LoRA');
    expect(Math.abs(got - scalar(distillLoss(t, s, x, { layers: [MID, 2], mu: 0.3 })))).toBeGreaterThan(1e-4);
    // A student identical to the teacher has zero loss only if both use the adapters.
    const same: DistillModel = { cfg: TEACHER_CFG, params: cloneParams(t.params) };
    expect(scalar(distillLoss(t, same, x, opts))).toBe(0);
    const th = hiddenStates(TEACHER_CFG, t.params, x, LORA);
    const shNoLora = hiddenStates(TEACHER_CFG, same.params, x);
    expect(jsNmse(th[2] as Float32Array, shNoLora[2] as Float32Array)).toBeGreaterThan(1e-4);
    // Changing LoRA B (in both) changes the loss.
    const bName = `${layerPrefix(0)}.attention.attention.value.lora_B.weight`;
    for (const m of [t, s]) {
      const old = mustGet(m.params, bName);
      m.params.set(bName, tf.tidy(() => tf.add(old, 0.5)));
      old.dispose();
    }
    expect(Math.abs(scalar(distillLoss(t, s, x, opts)) - got)).toBeGreaterThan(1e-5);
    // Forgetting the adapters on one side (the reference code's bug) is an error, not a silent skip.
    const bare: DistillModel = { cfg: STUDENT_CFG, params: makeStudent(teacher.params) };
    expect(() => distillLoss(t, bare, x, opts)).toThrow(/no LoRA tensors/);
    x.dispose();
    for (const p of [t.params, s.params, same.params, bare.params, lora]) disposeParams(p);
  });

  it('teacherLayerOf: an emulator-like student (layer 1 dropped) matches FM layers [0, 2]', async () => {
    const layerMap = [0, 2];
    const emuCfg: VitConfig = { ...TEACHER_CFG, numHiddenLayers: 2 };
    const params: Params = new Map();
    for (const [name, t] of teacher.params) {
      const m = /^vit\.encoder\.layer\.(\d+)\.(.*)$/.exec(name);
      const copy = tf.tensor((t.dataSync() as Float32Array).slice(), t.shape, 'float32');
      if (!m) params.set(name, copy);
      else if (Number(m[1]) === 0) params.set(name, copy);
      else if (Number(m[1]) === 2) params.set(`${layerPrefix(1)}.${m[2]}`, copy);
      else copy.dispose();
    }
    const emu: DistillModel = { cfg: emuCfg, params };
    const map = (j: number): number => layerMap[j] as number;
    const x = batch(3, 6);
    const ref = jsLoss(teacher, emu, x, [0, 1], 1, map);
    // Layer 0 is an exact copy of FM layer 0; layer 1 sees a different input than FM layer 2 did.
    expect(jsNmse(hiddenStates(TEACHER_CFG, teacher.params, x)[0] as Float32Array, hiddenStates(emuCfg, params, x)[0] as Float32Array)).toBe(0);
    expect(ref.hidden).toBeGreaterThan(1e-4);
    expect(ref.prod).toBe(0);
    expectClose([scalar(distillLoss(teacher, emu, x, { layers: [0, 1], mu: 1, teacherLayerOf: map }))], [ref.total], 1e-4, 'mapped loss');
    // Without the map, emulator layer 1 would be compared with FM layer 1: a different value.
    const unmapped = jsLoss(teacher, emu, x, [0, 1], 1);
    expectClose([scalar(distillLoss(teacher, emu, x, { layers: [0, 1], mu: 1 }))], [unmapped.total], 1e-4, 'identity map');
    expect(Math.abs(unmapped.total - ref.total)).toBeGreaterThan(1e-3);
    expect(() => distillLoss(teacher, emu, x, { layers: [0, 2], mu: 0, teacherLayerOf: map })).toThrow(/out of range/);
    // distill() with the map trains the emulator layer toward FM layer 2's output.
    const { losses } = await distill(teacher, emu, { features: images, featureSize: FEATURES, n: N_DATA }, {
      ...PLAIN, steps: 15, batchSize: 8, lr: 1e-2, mu: 0, weightDecay: 0, seed: 5, layers: [0, 1], trainable: distillTrainableNames(TEACHER_CFG, [1]), teacherLayerOf: map,
    });
    expect(losses[14] as number).toBeLessThan(losses[0] as number);
    x.dispose();
    disposeParams(params);
  });
});

describe('distillLoss on text', () => {
  const BERT_CFG: BertConfig = tinyBert({ vocabSize: 30, hiddenSize: 8, numHiddenLayers: 3, intermediateSize: 16 });
  const T_TEXT = 8;
  const D_TEXT = 8;
  /**
   * Token ids, token-type ids and the attention mask, as the text encoder lays them out; 0 pads.
   * Row 2 also holds a literal pad id at position 1 (mask 1, as the tokenizer encodes a typed [PAD]).
   */
  function textBatch(lengths: number[]): { x: tf.Tensor2D; real: boolean[]; notPadId: boolean[] } {
    const rows = lengths.length;
    const W = 3 * T_TEXT;
    const data = new Float32Array(rows * W);
    const real: boolean[] = [];
    const notPadId: boolean[] = [];
    lengths.forEach((len, r) => {
      for (let t = 0; t < T_TEXT; t++) {
        const id = t < len && !(r === 2 && t === 1) ? 1 + ((r * 7 + t * 3) % 29) : 0;
        data[r * W + t] = id;
        data[r * W + 2 * T_TEXT + t] = t < len ? 1 : 0;
        real.push(t < len);
        notPadId.push(id !== 0);
      }
    });
    return { x: tf.tensor2d(data, [rows, W]), real, notPadId };
  }

  it('leaves padding positions out of the error and its normaliser (a hand computation over real tokens)', () => {
    const params = initModelParams(BERT_CFG, new Rng('distill-text-teacher'));
    const textTeacher: DistillModel = { cfg: BERT_CFG, params };
    // The student: the teacher with the middle FFN's input weights perturbed.
    const studentParams: Params = new Map([...params].map(([n, t]) => [n, tf.tensor((t.dataSync() as Float32Array).slice(), t.shape, 'float32')]));
    const w1 = ffnTensorNames(BERT_CFG, 1).w1;
    const noisy = randomNormal(new Rng('distill-text-noise'), D_TEXT * 16, 0.5).map((v, i) => v + ((studentParams.get(w1) as tf.Tensor).dataSync()[i] as number));
    (studentParams.get(w1) as tf.Tensor).dispose();
    studentParams.set(w1, tf.tensor(noisy, [D_TEXT, 16], 'float32'));
    const student: DistillModel = { cfg: BERT_CFG, params: studentParams };
    const { x, real, notPadId } = textBatch([8, 3, 5]);
    const capture = (m: DistillModel): Float32Array[] => {
      const out: Float32Array[] = [];
      tf.tidy(() => {
        modelForward(m.cfg, m.params, x, { onLayerOutput: (i, h) => (out[i] = (h.dataSync() as Float32Array).slice()) });
      });
      return out;
    };
    const th = capture(textTeacher);
    const sh = capture(student);
    const nmse = (t: Float32Array, s: Float32Array, onlyReal: boolean, keep = real): number => {
      let num = 0;
      let den = 0;
      for (let i = 0; i < t.length; i++) {
        if (onlyReal && !keep[Math.floor(i / D_TEXT)]) continue;
        num += ((t[i] as number) - (s[i] as number)) ** 2;
        den += (t[i] as number) ** 2;
      }
      return num / den;
    };
    const layers = [1, 2];
    const masked = layers.reduce((sum, j) => sum + nmse(th[j] as Float32Array, sh[j] as Float32Array, true), 0) / layers.length;
    const unmasked = layers.reduce((sum, j) => sum + nmse(th[j] as Float32Array, sh[j] as Float32Array, false), 0) / layers.length;
    // The padding positions' states differ too, so counting them would change the loss.
    expect(Math.abs(masked - unmasked) / masked).toBeGreaterThan(0.01);
    // The literal pad is a real token (attention mask 1): leaving it out, as the old id-based mask did, changes the loss.
    const idMasked = layers.reduce((sum, j) => sum + nmse(th[j] as Float32Array, sh[j] as Float32Array, true, notPadId), 0) / layers.length;
    expect(Math.abs(masked - idMasked) / masked).toBeGreaterThan(1e-3);
    expectClose([scalar(distillLoss(textTeacher, student, x, { layers, mu: 0 }))], [masked], 1e-4, 'masked loss');
    x.dispose();
    disposeParams(params);
    disposeParams(studentParams);
  });
});

describe('distill', () => {
  it('reduces the loss over 20 steps, is deterministic, and leaves plain tensors behind', async () => {
    const all = batch(0, N_DATA);
    const logged: [number, number][] = [];
    const run = async (): Promise<{ losses: number[]; student: DistillModel }> => {
      const student: DistillModel = { cfg: STUDENT_CFG, params: makeStudent(teacher.params) };
      const { losses } = await distill(teacher, student, { features: images, featureSize: FEATURES, n: N_DATA }, {
        ...PLAIN, steps: 20, batchSize: 8, lr: 1e-2, mu: 0.1, weightDecay: 0.01, seed: 11, layers: [MID], trainable: MID_TRAINABLE,
        log: (step, loss) => logged.push([step, loss]),
      });
      return { losses, student };
    };
    const a = await run();
    expect(logged).toEqual(a.losses.map((l, i) => [i, l]));
    const before = jsLoss(teacher, { cfg: STUDENT_CFG, params: makeStudent(teacher.params) }, all, [MID], 0.1);
    const after = jsLoss(teacher, a.student, all, [MID], 0.1);
    expect(a.losses).toHaveLength(20);
    expect(after.total).toBeLessThan(0.7 * before.total);
    const tail = a.losses.slice(-3).reduce((s, v) => s + v, 0) / 3;
    expect(tail).toBeLessThan(a.losses[0] as number);
    for (const name of MID_TRAINABLE) expect(mustGet(a.student.params, name)).not.toBeInstanceOf(tf.Variable);
    const b = await run();
    expect(b.losses).toEqual(a.losses);
    for (const name of MID_TRAINABLE) expect(mustGet(b.student.params, name).dataSync()).toEqual(mustGet(a.student.params, name).dataSync());
    all.dispose();
    disposeParams(a.student.params);
    disposeParams(b.student.params);
  });

  it("trains at HF's linear warm-up rate: step 0 of a run with warm-up moves nothing, a constant rate does", async () => {
    const changed = async (schedule: DistillOptions['schedule']): Promise<boolean> => {
      const student: DistillModel = { cfg: STUDENT_CFG, params: makeStudent(teacher.params) };
      const before = snapshot(student.params);
      await distill(teacher, student, { features: images, featureSize: FEATURES, n: N_DATA }, {
        schedule, maxGradNorm: 1, steps: 1, batchSize: 8, lr: 1e-2, mu: 0, weightDecay: 0.01, seed: 4, layers: [MID], trainable: MID_TRAINABLE,
      });
      const after = snapshot(student.params);
      disposeParams(student.params);
      return MID_TRAINABLE.some((n) => !(after.get(n) as Float32Array).every((v, i) => Object.is(v, (before.get(n) as Float32Array)[i])));
    };
    // One step with warmupRatio 1: W = 1, so step 0 trains at 0 (and decoupled weight decay at 0 too).
    expect(await changed({ kind: 'linear-warmup', warmupRatio: 1 })).toBe(false);
    expect(await changed({ kind: 'constant' })).toBe(true);
  });

  it('neuronMask: only the selected neurons (and b2, LayerNorm) change; weight decay spares the rest', async () => {
    const student: DistillModel = { cfg: STUDENT_CFG, params: makeStudent(teacher.params) };
    const before = snapshot(student.params);
    const selected = [0, 3, 5, 10, 15];
    const isSel = (k: number): boolean => selected.includes(k);
    await distill(teacher, student, { features: images, featureSize: FEATURES, n: N_DATA }, {
      ...PLAIN, steps: 5, batchSize: 8, lr: 1e-2, mu: 0.5, weightDecay: 0.5, seed: 3, layers: [MID], trainable: MID_TRAINABLE,
      neuronMask: new Map([[MID, selected]]),
    });
    const after = snapshot(student.params);
    const names = ffnTensorNames(TEACHER_CFG, MID);
    const w1b = before.get(names.w1) as Float32Array;
    const w1a = after.get(names.w1) as Float32Array;
    const w2b = before.get(names.w2) as Float32Array;
    const w2a = after.get(names.w2) as Float32Array;
    const b1b = before.get(names.b1) as Float32Array;
    const b1a = after.get(names.b1) as Float32Array;
    for (let k = 0; k < KEEP; k++) {
      const col = (w: Float32Array): number[] => Array.from({ length: D }, (_, r) => w[r * KEEP + k] as number);
      const row = (w: Float32Array): number[] => Array.from(w.subarray(k * D, (k + 1) * D));
      if (isSel(k)) {
        expect(col(w1a), `W1' column ${k}`).not.toEqual(col(w1b));
        expect(row(w2a), `W2' row ${k}`).not.toEqual(row(w2b));
        expect(b1a[k], `b1' ${k}`).not.toBe(b1b[k]);
      } else {
        // toEqual on Float32 values: bit-identical (no tolerance).
        expect(col(w1a), `W1' column ${k}`).toEqual(col(w1b));
        expect(row(w2a), `W2' row ${k}`).toEqual(row(w2b));
        expect(b1a[k], `b1' ${k}`).toBe(b1b[k]);
      }
    }
    for (const n of [names.b2, names.lnWeight, names.lnBias]) expect(after.get(n), n).not.toEqual(before.get(n));
    for (const [n, v] of before) if (!MID_TRAINABLE.includes(n)) expect(after.get(n), n).toEqual(v);
    disposeParams(student.params);
  });

  it('distill with LoRA on both sides trains, and throws if the student lacks the adapters', async () => {
    const lora = initLoraParams(TEACHER_CFG, LORA.rank, new Rng('distill-lora-2'));
    const t: DistillModel = { cfg: TEACHER_CFG, params: cloneParams(teacher.params) };
    const s: DistillModel = { cfg: STUDENT_CFG, params: makeStudent(teacher.params) };
    for (const [n, v] of lora) {
      const b = n.endsWith('lora_B.weight') ? tf.tensor(randomNormal(new Rng(`b/${n}`), v.size, 0.3), v.shape, 'float32') : tf.clone(v);
      t.params.set(n, b);
      s.params.set(n, tf.clone(b));
    }
    const loraBefore = snapshot(s.params);
    const { losses } = await distill(t, s, { features: images, featureSize: FEATURES, n: N_DATA }, {
      ...PLAIN, steps: 10, batchSize: 8, lr: 1e-2, mu: 0, weightDecay: 0, seed: 9, layers: [MID], trainable: MID_TRAINABLE, lora: LORA,
    });
    expect(losses[9] as number).toBeLessThan(losses[0] as number);
    for (const [n, v] of loraBefore) if (n.includes('lora_')) expect(mustGet(s.params, n).dataSync(), n).toEqual(v);
    const bare: DistillModel = { cfg: STUDENT_CFG, params: makeStudent(teacher.params) };
    await expect(
      distill(t, bare, { features: images, featureSize: FEATURES, n: N_DATA }, { ...PLAIN, steps: 1, batchSize: 4, lr: 1e-2, mu: 0, weightDecay: 0, seed: 1, layers: [MID], trainable: MID_TRAINABLE, lora: LORA }),
    ).rejects.toThrow(/no LoRA tensors/);
    for (const p of [t.params, s.params, bare.params, lora]) disposeParams(p);
  });

  it('keeps the tensor count flat (distill, masks, mu term, distillLoss) and disposes replaced tensors', async () => {
    const student: DistillModel = { cfg: STUDENT_CFG, params: makeStudent(teacher.params) };
    const originals = MID_TRAINABLE.map((n) => mustGet(student.params, n));
    const x = batch(0, 4);
    const count = tf.memory().numTensors;
    await distill(teacher, student, { features: images, featureSize: FEATURES, n: N_DATA }, {
      ...PLAIN, steps: 3, batchSize: 4, lr: 1e-2, mu: 0.5, weightDecay: 0.1, seed: 2, layers: [MID, 2], trainable: MID_TRAINABLE,
      neuronMask: new Map([[MID, [1, 2]]]),
    });
    expect(tf.memory().numTensors).toBe(count);
    scalar(distillLoss(teacher, student, x, { layers: [MID], mu: 0.5 }));
    expect(tf.memory().numTensors).toBe(count);
    for (const t of originals) expect(t.isDisposed).toBe(true);
    expect([...student.params.keys()].sort()).toEqual([...vitParamShapes(STUDENT_CFG).keys()].sort());
    // A tensor the teacher also holds is not disposed (sub-FMs may share tensors with the FM).
    const shared = mustGet(teacher.params, ffnTensorNames(TEACHER_CFG, 2).lnWeight);
    const sharing: DistillModel = { cfg: TEACHER_CFG, params: new Map(teacher.params) };
    await distill(teacher, sharing, { features: images, featureSize: FEATURES, n: N_DATA }, {
      ...PLAIN, steps: 2, batchSize: 4, lr: 1e-2, mu: 0, weightDecay: 0, seed: 2, layers: [2], trainable: [ffnTensorNames(TEACHER_CFG, 2).lnWeight],
    });
    expect(shared.isDisposed).toBe(false);
    expect(mustGet(teacher.params, ffnTensorNames(TEACHER_CFG, 2).lnWeight)).toBe(shared);
    mustGet(sharing.params, ffnTensorNames(TEACHER_CFG, 2).lnWeight).dispose();
    x.dispose();
    disposeParams(student.params);
  });
});
