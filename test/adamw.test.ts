import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { AdamW, DEFAULT_ADAMW, defaultPlacement, type AdamWOptions, type AdamWPlacement } from '../src/model/adamw.js';
import type { Params } from '../src/model/params.js';
import { makeTrainable, trainStep } from '../src/model/train.js';
import { initBackend } from '../src/tensor/backend.js';
import { Rng } from '../src/util/rng.js';
import { expectClose, maxAbsDiff, randomNormal } from './helpers/numeric.js';

/**
 * AdamW against a scalar-loop transcription of torch.optim.AdamW's single-tensor step:
 *   w <- w * (1 - lr * wd)        (decoupled decay; this project: rank >= 2 tensors only)
 *   m <- b1 m + (1 - b1) g ;  v <- b2 v + (1 - b2) g^2
 *   w <- w - (lr / (1 - b1^t)) * m / (sqrt(v) / sqrt(1 - b2^t) + eps)
 */

interface RefState {
  w: Float64Array;
  m: Float64Array;
  v: Float64Array;
  decay: boolean;
}

function refStep(s: RefState, g: ArrayLike<number>, t: number, lr: number, o: AdamWOptions): void {
  const bc1 = 1 - o.beta1 ** t;
  const bc2 = 1 - o.beta2 ** t;
  for (let i = 0; i < s.w.length; i++) {
    let w = s.w[i] as number;
    if (s.decay) w *= 1 - lr * o.weightDecay;
    const gi = g[i] as number;
    const m = o.beta1 * (s.m[i] as number) + (1 - o.beta1) * gi;
    const v = o.beta2 * (s.v[i] as number) + (1 - o.beta2) * gi * gi;
    s.m[i] = m;
    s.v[i] = v;
    s.w[i] = w - (lr / bc1) * (m / (Math.sqrt(v) / Math.sqrt(bc2) + o.eps));
  }
}

/** Quadratic loss sum_i c_i (w_i - target_i)^2 over named flat arrays, its value and gradient. */
interface Quadratic {
  c: Float32Array;
  target: Float32Array;
}

function quadLoss(q: Quadratic, w: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < w.length; i++) s += (q.c[i] as number) * ((w[i] as number) - (q.target[i] as number)) ** 2;
  return s;
}

function quadGrad(q: Quadratic, w: ArrayLike<number>): Float64Array {
  const g = new Float64Array(w.length);
  for (let i = 0; i < w.length; i++) g[i] = 2 * (q.c[i] as number) * ((w[i] as number) - (q.target[i] as number));
  return g;
}

/** PyTorch-like defaults, and a set with a large eps so that where eps sits (outside the sqrt) shows. */
const OPTION_SETS: [string, AdamWOptions][] = [
  ['b1=0.9 b2=0.999 eps=1e-8 wd=0.1', { beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0.1 }],
  ['b1=0.8 b2=0.95 eps=0.5 wd=0.3', { beta1: 0.8, beta2: 0.95, eps: 0.5, weightDecay: 0.3 }],
];
const OPTS = OPTION_SETS[0]?.[1] as AdamWOptions;
const LR = 0.05;

/** A matrix [3, 4] (decayed) and a bias [4] (not decayed) with their own quadratics. */
function setup(seed: string): { params: Params; init: Map<string, Float32Array>; quads: Map<string, Quadratic>; shapes: Map<string, number[]> } {
  const rng = new Rng(seed);
  const shapes = new Map<string, number[]>([
    ['layer.weight', [3, 4]],
    ['layer.bias', [4]],
  ]);
  const params: Params = new Map();
  const init = new Map<string, Float32Array>();
  const quads = new Map<string, Quadratic>();
  for (const [name, shape] of shapes) {
    const n = shape.reduce((a, b) => a * b, 1);
    const w = randomNormal(rng, n, 2);
    init.set(name, w);
    params.set(name, tf.tensor(w, shape, 'float32'));
    quads.set(name, { c: randomNormal(rng, n).map((x) => 0.5 + Math.abs(x)), target: randomNormal(rng, n) });
  }
  return { params, init, quads, shapes };
}

beforeAll(async () => {
  await initBackend('cpu');
});

const CASES: [string, AdamWOptions, AdamWPlacement][] = OPTION_SETS.flatMap(([label, o]) => (['host', 'device'] as const).map((p): [string, AdamWOptions, AdamWPlacement] => [label, o, p]));

describe.each(CASES)('AdamW vs a scalar-loop PyTorch AdamW (%s, %s placement)', (_label, OPTS, placement) => {
  it('3 steps with hand-computed gradients: decay on the matrix only, bias corrected', () => {
    const { params, init, quads } = setup('adamw-direct');
    const vars = makeTrainable(params, [...params.keys()]);
    const opt = new AdamW(vars, OPTS, placement);
    const ref = new Map<string, RefState>();
    const refDecayAll = new Map<string, RefState>();
    for (const [name, w] of init) {
      const fresh = (decay: boolean): RefState => ({ w: Float64Array.from(w), m: new Float64Array(w.length), v: new Float64Array(w.length), decay });
      ref.set(name, fresh(name.endsWith('.weight')));
      refDecayAll.set(name, fresh(true));
    }
    for (let t = 1; t <= 3; t++) {
      // Gradients at the current (pre-step) weights, computed in JS from the tfjs weights.
      const grads: tf.NamedTensorMap = {};
      for (const [name, v] of vars) {
        const q = quads.get(name) as Quadratic;
        const g = quadGrad(q, v.dataSync());
        grads[name] = tf.tensor(Float32Array.from(g), v.shape, 'float32');
        refStep(ref.get(name) as RefState, quadGrad(q, (ref.get(name) as RefState).w), t, LR, OPTS);
        const all = refDecayAll.get(name) as RefState;
        refStep(all, quadGrad(q, all.w), t, LR, OPTS);
      }
      opt.step(grads, LR);
      tf.dispose(Object.values(grads));
      for (const [name, v] of vars) expectClose(v.dataSync(), (ref.get(name) as RefState).w, 1e-5, `${name} after step ${t}`, 1e-2);
    }
    // The bias really is exempt: decaying it too would have moved it measurably.
    const bias = vars.get('layer.bias') as tf.Variable;
    expect(maxAbsDiff(bias.dataSync(), (refDecayAll.get('layer.bias') as RefState).w)).toBeGreaterThan(1e-4);
    // And the matrix really is decayed (the same reference without decay is far off).
    const weight = vars.get('layer.weight') as tf.Variable;
    const noDecay: RefState = { w: Float64Array.from(init.get('layer.weight') as Float32Array), m: new Float64Array(12), v: new Float64Array(12), decay: false };
    for (let t = 1; t <= 3; t++) refStep(noDecay, quadGrad(quads.get('layer.weight') as Quadratic, noDecay.w), t, LR, OPTS);
    expect(maxAbsDiff(weight.dataSync(), noDecay.w)).toBeGreaterThan(1e-4);
    opt.dispose();
    for (const v of vars.values()) v.dispose();
  });

  it('through trainStep (tf.variableGrads): same trajectory, and it returns the pre-step loss', async () => {
    const { params, init, quads, shapes } = setup('adamw-trainstep');
    const vars = makeTrainable(params, [...params.keys()]);
    const opt = new AdamW(vars, OPTS, placement);
    const consts = new Map<string, { c: tf.Tensor; target: tf.Tensor }>();
    for (const [name, q] of quads) {
      const shape = shapes.get(name) as number[];
      consts.set(name, { c: tf.tensor(q.c, shape), target: tf.tensor(q.target, shape) });
    }
    const loss = (): tf.Scalar => {
      let total: tf.Tensor = tf.scalar(0);
      for (const [name, v] of vars) {
        const k = consts.get(name) as { c: tf.Tensor; target: tf.Tensor };
        total = tf.add(total, tf.sum(tf.mul(k.c, tf.square(tf.sub(v, k.target)))));
      }
      return total as tf.Scalar;
    };
    const ref = new Map<string, RefState>();
    for (const [name, w] of init) ref.set(name, { w: Float64Array.from(w), m: new Float64Array(w.length), v: new Float64Array(w.length), decay: name.endsWith('.weight') });
    for (let t = 1; t <= 3; t++) {
      let refLoss = 0;
      for (const [name, s] of ref) refLoss += quadLoss(quads.get(name) as Quadratic, s.w);
      const got = await trainStep(loss, vars, opt, LR);
      expect(Math.abs(got - refLoss) / refLoss, `loss at step ${t}: ${got} vs ${refLoss}`).toBeLessThan(1e-5);
      for (const [name, s] of ref) refStep(s, quadGrad(quads.get(name) as Quadratic, s.w), t, LR, OPTS);
      for (const [name, v] of vars) expectClose(v.dataSync(), (ref.get(name) as RefState).w, 1e-5, `${name} after step ${t}`, 1e-2);
    }
    opt.dispose();
    for (const v of vars.values()) v.dispose();
    for (const k of consts.values()) tf.dispose([k.c, k.target]);
  });
});

/**
 * Weights after `steps` AdamW steps from the same start and gradients under one placement.
 * Gradients span many magnitudes (zeros and subnormals included) so that every rounding shows.
 */
function trajectory(placement: AdamWPlacement, o: AdamWOptions, steps: number): Float32Array[] {
  const rng = new Rng('adamw-placements');
  const shapes = [[16, 24], [24], [3, 5, 7]];
  const params: Params = new Map(shapes.map((shape, i) => [`p${i}`, tf.tensor(randomNormal(rng, shape.reduce((a, b) => a * b, 1)), shape, 'float32')]));
  const vars = makeTrainable(params, [...params.keys()]);
  const opt = new AdamW(vars, o, placement);
  for (let t = 0; t < steps; t++) {
    const grads: tf.NamedTensorMap = {};
    for (const [name, v] of vars) {
      const g = randomNormal(rng, v.size).map((x, i) => (i % 11 === 0 ? 0 : i % 13 === 0 ? x * 1e-40 : x * 10 ** ((i % 9) - 4)));
      grads[name] = tf.tensor(g, v.shape, 'float32');
    }
    opt.step(grads, 0.01 * (1 + t));
    tf.dispose(Object.values(grads));
  }
  const out = [...vars.values()].map((v) => Float32Array.from(v.dataSync() as Float32Array));
  opt.dispose();
  for (const v of vars.values()) v.dispose();
  return out;
}

describe.each(['cpu', 'wasm'] as const)('AdamW placements on the %s backend', (backend) => {
  it.each(OPTION_SETS)('host loop and tfjs ops give bit-identical weights over 6 steps (%s)', async (_label, o) => {
    await initBackend(backend, 'exact');
    try {
      const device = trajectory('device', o, 6);
      const host = trajectory('host', o, 6);
      for (let i = 0; i < device.length; i++) expect(Buffer.from((host[i] as Float32Array).buffer).equals(Buffer.from((device[i] as Float32Array).buffer)), `tensor ${i}`).toBe(true);
      // The weights moved: identical because equal, not because nothing happened.
      expect(maxAbsDiff(device[0] as Float32Array, trajectory('device', o, 1)[0] as Float32Array)).toBeGreaterThan(1e-3);
    } finally {
      await initBackend('cpu');
    }
  });

  it('is the default placement off the tensorflow backend', async () => {
    await initBackend(backend, 'exact');
    try {
      expect(defaultPlacement()).toBe('host');
    } finally {
      await initBackend('cpu');
    }
  });
});

describe('AdamW bookkeeping', () => {
  it('skips tensors without a gradient (no step, no moment update)', () => {
    const { params, init } = setup('adamw-skip');
    const vars = makeTrainable(params, [...params.keys()]);
    const opt = new AdamW(vars, OPTS);
    const g = tf.onesLike(vars.get('layer.bias') as tf.Variable);
    opt.step({ 'layer.bias': g }, LR);
    g.dispose();
    expect((vars.get('layer.weight') as tf.Variable).dataSync()).toEqual(init.get('layer.weight'));
    expect(maxAbsDiff((vars.get('layer.bias') as tf.Variable).dataSync(), init.get('layer.bias') as Float32Array)).toBeGreaterThan(LR * 0.99);
    opt.dispose();
    for (const v of vars.values()) v.dispose();
  });
});

describe('trainStep on a linear-regression toy', () => {
  it('returns the pre-step loss, reduces the loss, and leaks no tensors over 20 steps', async () => {
    const rng = new Rng('linreg');
    const n = 32;
    const xData = randomNormal(rng, n * 3);
    const wTrue = [1.5, -2, 0.5];
    const bTrue = 0.7;
    const yData = new Float32Array(n);
    for (let i = 0; i < n; i++) {
      let s = bTrue + 0.01 * rng.normal();
      for (let j = 0; j < 3; j++) s += (xData[i * 3 + j] as number) * (wTrue[j] as number);
      yData[i] = s;
    }
    const x = tf.tensor2d(xData, [n, 3]);
    const y = tf.tensor2d(yData, [n, 1]);
    const params: Params = new Map([
      ['w', tf.zeros([3, 1])],
      ['b', tf.zeros([1])],
    ]);
    const vars = makeTrainable(params, ['b', 'w']);
    const opt = new AdamW(vars, DEFAULT_ADAMW);
    const lossFn = (): tf.Scalar => tf.mean(tf.square(tf.sub(tf.add(tf.matMul(x, vars.get('w') as tf.Variable), vars.get('b') as tf.Variable), y)));

    /** The loss at the current weights, computed in JS. */
    const jsLoss = (): number => {
      const w = (vars.get('w') as tf.Variable).dataSync();
      const b = (vars.get('b') as tf.Variable).dataSync()[0] as number;
      let s = 0;
      for (let i = 0; i < n; i++) {
        let p = b;
        for (let j = 0; j < 3; j++) p += (xData[i * 3 + j] as number) * (w[j] as number);
        s += (p - (yData[i] as number)) ** 2;
      }
      return s / n;
    };

    const tensorsBefore = tf.memory().numTensors;
    const losses: number[] = [];
    for (let step = 0; step < 20; step++) {
      const before = jsLoss();
      const got = await trainStep(lossFn, vars, opt, 0.1);
      expect(Math.abs(got - before) / before, `step ${step}: returned ${got}, pre-step loss ${before}`).toBeLessThan(1e-5);
      losses.push(got);
      expect(tf.memory().numTensors, `tensors after step ${step}`).toBe(tensorsBefore);
    }
    const final = jsLoss();
    expect(final).toBeLessThan((losses[0] as number) * 0.25);
    // Mostly monotone: AdamW on a convex quadratic with a modest lr.
    expect(losses[19] as number).toBeLessThan(losses[10] as number);
    opt.dispose();
    for (const v of vars.values()) v.dispose();
    tf.dispose([x, y]);
  });
});
