import * as tf from '@tensorflow/tfjs-core';
import type { Params } from '../model/params.js';
import type { ModelConfig } from '../model/encoder.js';

/**
 * FedOT's emulator (Offsite-Tuning in FL; METHOD.md, FedOT): the bottom `a` and top `a`
 * layers are the adapters, and the m = L - 2a middle layers are compressed by layer-drop to
 * k of them.
 */

/**
 * Round half to even, as Python 3's round(): the reference (Offsite-Tuning's
 * uniform_choose_layers) computes `round(i * stride)` in Python.
 */
export function roundHalfEven(x: number): number {
  const f = Math.floor(x);
  const diff = x - f;
  if (diff < 0.5) return f;
  if (diff > 0.5) return f + 1;
  return f % 2 === 0 ? f : f + 1;
}

/**
 * Indices of the k of m middle layers the emulator keeps: round(i * (m - 1) / (k - 1)) for
 * i = 0..k-1, with stride = (m - 1) / (k - 1) computed first and Python's round-half-to-even,
 * exactly as the reference code. Example (the paper's): m = 8, k = 3 -> stride 3.5 ->
 * [0, round(3.5) = 4, 7]; half-up rounding agrees there, but not everywhere: m = 6, k = 3
 * gives [0, 2, 5] here (round(2.5) = 2) where half-up would give [0, 3, 5].
 * Edge cases (the reference divides by zero for k = 1): k = 1 -> [0], k = 0 -> [].
 */
export function layerDropIndices(m: number, k: number): number[] {
  if (!Number.isInteger(m) || m < 0) throw new RangeError(`layer count must be a non-negative integer, got ${m}`);
  if (!Number.isInteger(k) || k < 0 || k > m) throw new RangeError(`cannot keep ${k} of ${m} layers`);
  if (k === 0) return [];
  if (k === 1) return [0];
  const stride = (m - 1) / (k - 1);
  return Array.from({ length: k }, (_, i) => roundHalfEven(i * stride));
}

export interface EmulatorOptions {
  /** a: adapter layers at each end (paper: 2 of 12). */
  adapterLayers: number;
  /** k: middle layers the emulator keeps of the L - 2a (paper: 3 of 8). */
  emulatorLayers: number;
}

export interface Emulator {
  /** An encoder of the FM's kind with 2a + k layers. */
  cfg: ModelConfig;
  /** Fresh tensors, layers renumbered 0..2a+k-1. */
  params: Params;
  /** Emulator layer j -> original layer index. */
  layerMap: number[];
  /** Original indices of the bottom and top adapter layers, ascending. */
  adapterLayers: number[];
}

/** layerMap for an L-layer FM: [0..a-1, a + layerDropIndices(L - 2a, k)..., L-a..L-1]. */
export function emulatorLayerMap(numLayers: number, opts: EmulatorOptions): { layerMap: number[]; adapterLayers: number[] } {
  const a = opts.adapterLayers;
  const L = numLayers;
  if (!Number.isInteger(a) || a < 0 || 2 * a > L) throw new RangeError(`cannot take ${a} adapter layers at each end of ${L} layers`);
  const bottom = Array.from({ length: a }, (_, i) => i);
  const top = Array.from({ length: a }, (_, i) => L - a + i);
  const middle = layerDropIndices(L - 2 * a, opts.emulatorLayers).map((i) => a + i);
  return { layerMap: [...bottom, ...middle, ...top], adapterLayers: [...bottom, ...top] };
}

/**
 * The emulator model (adapters + layer-dropped middle), as a plain encoder of the FM's kind: layer layerMap[j] of
 * the FM becomes layer j. Embeddings, final LayerNorm, head and any other non-layer tensors
 * are copied; tensors of dropped layers are left out. The input params are not disposed.
 */
export function buildEmulator(cfg: ModelConfig, params: Params, opts: EmulatorOptions): Emulator {
  const { layerMap, adapterLayers } = emulatorLayerMap(cfg.numHiddenLayers, opts);
  const renamed = renameLayers(params, inverse(layerMap), { dropUnmapped: true });
  const out: Params = new Map([...renamed].map(([name, t]) => [name, tf.clone(t)]));
  const emuCfg: ModelConfig = { ...cfg, numHiddenLayers: layerMap.length };
  if (cfg.intermediateSizes) emuCfg.intermediateSizes = layerMap.map((l) => cfg.intermediateSizes?.[l] ?? cfg.intermediateSize);
  else delete emuCfg.intermediateSizes;
  return { cfg: emuCfg, params: out, layerMap, adapterLayers };
}

const LAYER_NAME = /^(vit|bert|roberta)\.encoder\.layer\.(\d+)\./;

/** The encoder layer a parameter name belongs to, or null for embeddings, final LayerNorm, head. */
export function layerOf(name: string): number | null {
  const m = LAYER_NAME.exec(name);
  return m ? Number(m[2]) : null;
}

/** `<model>.encoder.layer.{l}.rest` -> `<model>.encoder.layer.{to}.rest`; other names unchanged. */
export function renameLayerName(name: string, to: number): string {
  return name.replace(LAYER_NAME, (_, model: string) => `${model}.encoder.layer.${to}.`);
}

/** The map old index -> new index that sends layerMap[j] to j (original -> emulator). */
function inverse(layerMap: readonly number[]): Map<number, number> {
  return new Map(layerMap.map((orig, j) => [orig, j]));
}

/**
 * A new map with every layer name renumbered by `map` (old layer -> new layer); names outside
 * the encoder layers are kept as they are. A layer missing from `map` is an error unless
 * dropUnmapped, which leaves its entries out. Values are shared, not copied.
 */
export function renameLayers<T>(entries: ReadonlyMap<string, T>, map: ReadonlyMap<number, number>, opts: { dropUnmapped?: boolean } = {}): Map<string, T> {
  const out = new Map<string, T>();
  for (const [name, value] of entries) {
    const l = layerOf(name);
    let target = name;
    if (l !== null) {
      const to = map.get(l);
      if (to === undefined) {
        if (opts.dropUnmapped) continue;
        throw new RangeError(`${name}: layer ${l} has no mapping`);
      }
      target = renameLayerName(name, to);
    }
    if (out.has(target)) throw new RangeError(`two parameters map to ${target}`);
    out.set(target, value);
  }
  return out;
}

/**
 * FedOT plug-in: tensors trained on emulator layer j (adapter LoRA, say) renamed to the FM's
 * layer layerMap[j]. Values are shared, not copied.
 */
export function toOriginalLayers<T>(emulatorEntries: ReadonlyMap<string, T>, layerMap: readonly number[]): Map<string, T> {
  return renameLayers(emulatorEntries, new Map(layerMap.map((orig, j) => [j, orig])));
}

/**
 * The reverse: FM-numbered tensors renamed to emulator layers; tensors of layers the emulator
 * dropped are left out. Values are shared, not copied.
 */
export function toEmulatorLayers<T>(originalEntries: ReadonlyMap<string, T>, layerMap: readonly number[]): Map<string, T> {
  return renameLayers(originalEntries, inverse(layerMap), { dropUnmapped: true });
}
