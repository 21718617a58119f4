import * as tf from '@tensorflow/tfjs-core';
import { readView } from '../tensor/read.js';

/**
 * A model's parameters by HuggingFace name. Dense weights are held as [in, out] (the transpose
 * of PyTorch's [out, in]) so the forward pass is a plain x @ W, the fast matMul path; the
 * checkpoint reader and writer convert at the boundary.
 */
export type Params = Map<string, tf.Tensor>;

/**
 * Compiles name patterns: `*` matches any run of characters inside a name (dots included),
 * everything else is literal. Example: `*.lora_A.weight`, `classifier.*`.
 */
export function nameMatcher(patterns: readonly string[]): (name: string) => boolean {
  const regexes = patterns.map(
    (p) => new RegExp('^' + p.split('*').map((part) => part.replace(/[.+?^${}()|[\]\\]/g, '\\$&')).join('.*') + '$'),
  );
  return (name) => regexes.some((r) => r.test(name));
}

/** Names of `params` matching any pattern, in sorted order (the order weights travel in). */
export function selectNames(params: Params, patterns: readonly string[]): string[] {
  const match = nameMatcher(patterns);
  return [...params.keys()].filter(match).sort();
}

export function disposeParams(params: Params): void {
  for (const t of params.values()) t.dispose();
  params.clear();
}

/** Flattens the named tensors into one Float32Array (names in the given order). */
export async function flattenParams(params: Params, names: readonly string[]): Promise<Float32Array> {
  const size = names.reduce((s, n) => s + mustGet(params, n).size, 0);
  const out = new Float32Array(size);
  let offset = 0;
  for (const n of names) {
    const data = await readView(mustGet(params, n));
    out.set(data, offset);
    offset += data.length;
  }
  return out;
}

/** Writes a flat vector back into the named tensors (replacing them; variables are assigned). */
export function assignFlat(params: Params, names: readonly string[], flat: Float32Array): void {
  let offset = 0;
  for (const n of names) {
    const old = mustGet(params, n);
    const slice = flat.subarray(offset, offset + old.size);
    offset += old.size;
    if (old instanceof tf.Variable) {
      tf.tidy(() => old.assign(tf.tensor(slice, old.shape, 'float32')));
    } else {
      params.set(n, tf.tensor(slice.slice(), old.shape, 'float32'));
      old.dispose();
    }
  }
  if (offset !== flat.length) throw new Error(`flat vector has ${flat.length} values, the named tensors ${offset}`);
}

export function mustGet(params: Params, name: string): tf.Tensor {
  const t = params.get(name);
  if (!t) throw new Error(`missing parameter ${name}`);
  return t;
}

export function countParams(params: Params, names: readonly string[]): number {
  return names.reduce((s, n) => s + mustGet(params, n).size, 0);
}
