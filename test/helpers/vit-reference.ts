/**
 * A plain-JS ViTForImageClassification forward pass in HuggingFace's own layout (PyTorch
 * Linear weights [out, in], patch Conv2d weight [d, C, p, p]), written with nested loops in
 * float64 and independent of the tfjs implementation, as a reference for test/vit.test.ts.
 */

export interface RefConfig {
  hiddenSize: number;
  numHiddenLayers: number;
  numAttentionHeads: number;
  intermediateSizes: number[];
  imageSize: number;
  patchSize: number;
  numChannels: number;
  numLabels: number;
  layerNormEps: number;
  qkvBias: boolean;
}

/** A ViT config (internal or reference) with every layer's FFN width listed, as the reference takes it. */
export function refConfig(cfg: Omit<RefConfig, 'intermediateSizes'> & { intermediateSize: number; intermediateSizes?: number[] }): RefConfig {
  return { ...cfg, intermediateSizes: Array.from({ length: cfg.numHiddenLayers }, (_, l) => cfg.intermediateSizes?.[l] ?? cfg.intermediateSize) };
}

export interface HfTensor {
  shape: number[];
  data: Float32Array;
}

/** LoRA in the internal layout: A [in, r], B [r, out], y += (alpha / r) x A B. */
export interface RefLora {
  rank: number;
  alpha: number;
  tensors: ReadonlyMap<string, Float32Array>;
}

/** HF parameter names and shapes of ViTForImageClassification, listed from HF's module definitions. */
export function hfShapes(cfg: RefConfig): Map<string, number[]> {
  const d = cfg.hiddenSize;
  const g = cfg.imageSize / cfg.patchSize;
  const s = new Map<string, number[]>();
  s.set('vit.embeddings.cls_token', [1, 1, d]);
  s.set('vit.embeddings.position_embeddings', [1, g * g + 1, d]);
  s.set('vit.embeddings.patch_embeddings.projection.weight', [d, cfg.numChannels, cfg.patchSize, cfg.patchSize]);
  s.set('vit.embeddings.patch_embeddings.projection.bias', [d]);
  for (let l = 0; l < cfg.numHiddenLayers; l++) {
    const p = `vit.encoder.layer.${l}`;
    const ff = cfg.intermediateSizes[l] as number;
    for (const t of ['query', 'key', 'value']) {
      s.set(`${p}.attention.attention.${t}.weight`, [d, d]);
      if (cfg.qkvBias) s.set(`${p}.attention.attention.${t}.bias`, [d]);
    }
    s.set(`${p}.attention.output.dense.weight`, [d, d]);
    s.set(`${p}.attention.output.dense.bias`, [d]);
    s.set(`${p}.intermediate.dense.weight`, [ff, d]);
    s.set(`${p}.intermediate.dense.bias`, [ff]);
    s.set(`${p}.output.dense.weight`, [d, ff]);
    s.set(`${p}.output.dense.bias`, [d]);
    s.set(`${p}.layernorm_before.weight`, [d]);
    s.set(`${p}.layernorm_before.bias`, [d]);
    s.set(`${p}.layernorm_after.weight`, [d]);
    s.set(`${p}.layernorm_after.bias`, [d]);
  }
  s.set('vit.layernorm.weight', [d]);
  s.set('vit.layernorm.bias', [d]);
  s.set('classifier.weight', [cfg.numLabels, d]);
  s.set('classifier.bias', [cfg.numLabels]);
  return s;
}

/**
 * erf to ~1e-15: the Maclaurin series below 3 (terms peak near e^9, so no cancellation
 * trouble in float64), the Laplace continued fraction for erfc above.
 */
export function erf(x: number): number {
  const ax = Math.abs(x);
  let r: number;
  if (ax < 3) {
    const x2 = ax * ax;
    let term = ax;
    let sum = ax;
    for (let n = 1; n < 200; n++) {
      term *= -x2 / n;
      const add = term / (2 * n + 1);
      sum += add;
      if (Math.abs(add) < 1e-17 * Math.abs(sum)) break;
    }
    r = (2 / Math.sqrt(Math.PI)) * sum;
  } else {
    let f = ax;
    for (let n = 80; n >= 1; n--) f = ax + n / 2 / f;
    r = 1 - Math.exp(-ax * ax) / (Math.sqrt(Math.PI) * f);
  }
  return x < 0 ? -r : r;
}

export function geluExact(x: number): number {
  return 0.5 * x * (1 + erf(x / Math.SQRT2));
}

export function get(params: ReadonlyMap<string, HfTensor>, name: string): Float32Array {
  const t = params.get(name);
  if (!t) throw new Error(`reference: missing ${name}`);
  return t.data;
}

/** rows x [n][inDim] -> [n][outDim] with PyTorch's y = x W^T + b, plus the LoRA path when given. */
export function linear(
  x: Float64Array[],
  params: ReadonlyMap<string, HfTensor>,
  name: string,
  inDim: number,
  outDim: number,
  lora?: RefLora,
): Float64Array[] {
  const w = get(params, `${name}.weight`);
  const b = params.get(`${name}.bias`)?.data;
  const la = lora?.tensors.get(`${name}.lora_A.weight`);
  const lb = lora?.tensors.get(`${name}.lora_B.weight`);
  return x.map((row) => {
    const y = new Float64Array(outDim);
    for (let o = 0; o < outDim; o++) {
      let s = b ? (b[o] as number) : 0;
      for (let i = 0; i < inDim; i++) s += (row[i] as number) * (w[o * inDim + i] as number);
      y[o] = s;
    }
    if (lora && la && lb) {
      const r = lora.rank;
      const mid = new Float64Array(r);
      for (let j = 0; j < r; j++) for (let i = 0; i < inDim; i++) mid[j] = (mid[j] as number) + (row[i] as number) * (la[i * r + j] as number);
      const scale = lora.alpha / r;
      for (let o = 0; o < outDim; o++) {
        let s = 0;
        for (let j = 0; j < r; j++) s += (mid[j] as number) * (lb[j * outDim + o] as number);
        y[o] = (y[o] as number) + scale * s;
      }
    }
    return y;
  });
}

export function layerNorm(x: Float64Array[], gamma: Float32Array, beta: Float32Array, eps: number): Float64Array[] {
  return x.map((row) => {
    const n = row.length;
    let mean = 0;
    for (const v of row) mean += v;
    mean /= n;
    let variance = 0;
    for (const v of row) variance += (v - mean) ** 2;
    variance /= n; // biased, as torch.nn.LayerNorm
    const inv = 1 / Math.sqrt(variance + eps);
    return row.map((v, i) => (v - mean) * inv * (gamma[i] as number) + (beta[i] as number));
  });
}

/**
 * Patch embeddings of one image as nn.Conv2d(C, d, kernel_size=p, stride=p) computes them
 * from the HF weight [d, C, p, p], then flatten(2).transpose(1, 2): token order is patch row
 * major. `image` is one CHW image.
 */
export function conv2dPatches(cfg: RefConfig, weight: Float32Array, bias: Float32Array, image: Float32Array): Float64Array[] {
  const { numChannels: C, patchSize: p, imageSize: H, hiddenSize: d } = cfg;
  const g = H / p;
  const out: Float64Array[] = [];
  for (let gy = 0; gy < g; gy++) {
    for (let gx = 0; gx < g; gx++) {
      const e = new Float64Array(d);
      for (let o = 0; o < d; o++) {
        let s = bias[o] as number;
        for (let c = 0; c < C; c++) {
          for (let i = 0; i < p; i++) {
            for (let j = 0; j < p; j++) {
              const px = image[c * H * H + (gy * p + i) * H + (gx * p + j)] as number;
              s += (weight[((o * C + c) * p + i) * p + j] as number) * px;
            }
          }
        }
        e[o] = s;
      }
      out.push(e);
    }
  }
  return out;
}

/** Logits [batch * numLabels] for flat NCHW images [batch, C*H*W]. */
export function referenceForward(
  cfg: RefConfig,
  params: ReadonlyMap<string, HfTensor>,
  images: Float32Array,
  batch: number,
  lora?: RefLora,
): Float64Array {
  const d = cfg.hiddenSize;
  const heads = cfg.numAttentionHeads;
  const dh = d / heads;
  const pixels = cfg.numChannels * cfg.imageSize * cfg.imageSize;
  const logits = new Float64Array(batch * cfg.numLabels);
  const cls = get(params, 'vit.embeddings.cls_token');
  const pos = get(params, 'vit.embeddings.position_embeddings');
  for (let b = 0; b < batch; b++) {
    const image = images.subarray(b * pixels, (b + 1) * pixels);
    const patches = conv2dPatches(
      cfg,
      get(params, 'vit.embeddings.patch_embeddings.projection.weight'),
      get(params, 'vit.embeddings.patch_embeddings.projection.bias'),
      image,
    );
    let x: Float64Array[] = [Float64Array.from(cls), ...patches].map((row, t) => row.map((v, i) => v + (pos[t * d + i] as number)));
    const T = x.length;
    for (let l = 0; l < cfg.numHiddenLayers; l++) {
      const p = `vit.encoder.layer.${l}`;
      const ff = cfg.intermediateSizes[l] as number;
      const h = layerNorm(x, get(params, `${p}.layernorm_before.weight`), get(params, `${p}.layernorm_before.bias`), cfg.layerNormEps);
      const q = linear(h, params, `${p}.attention.attention.query`, d, d, lora);
      const k = linear(h, params, `${p}.attention.attention.key`, d, d, lora);
      const v = linear(h, params, `${p}.attention.attention.value`, d, d, lora);
      const ctx = Array.from({ length: T }, () => new Float64Array(d));
      for (let hd = 0; hd < heads; hd++) {
        const off = hd * dh;
        for (let i = 0; i < T; i++) {
          const scores = new Float64Array(T);
          for (let j = 0; j < T; j++) {
            let s = 0;
            for (let c = 0; c < dh; c++) s += (q[i]![off + c] as number) * (k[j]![off + c] as number);
            scores[j] = s / Math.sqrt(dh);
          }
          const max = Math.max(...scores);
          let z = 0;
          for (let j = 0; j < T; j++) {
            scores[j] = Math.exp((scores[j] as number) - max);
            z += scores[j] as number;
          }
          for (let j = 0; j < T; j++) {
            const w = (scores[j] as number) / z;
            for (let c = 0; c < dh; c++) ctx[i]![off + c] = (ctx[i]![off + c] as number) + w * (v[j]![off + c] as number);
          }
        }
      }
      const attn = linear(ctx, params, `${p}.attention.output.dense`, d, d, lora);
      x = x.map((row, t) => row.map((val, i) => val + (attn[t]![i] as number)));
      const h2 = layerNorm(x, get(params, `${p}.layernorm_after.weight`), get(params, `${p}.layernorm_after.bias`), cfg.layerNormEps);
      const inter = linear(h2, params, `${p}.intermediate.dense`, d, ff, lora).map((row) => row.map(geluExact));
      const out = linear(inter, params, `${p}.output.dense`, ff, d, lora);
      x = x.map((row, t) => row.map((val, i) => val + (out[t]![i] as number)));
    }
    const final = layerNorm(x, get(params, 'vit.layernorm.weight'), get(params, 'vit.layernorm.bias'), cfg.layerNormEps);
    const y = linear([final[0] as Float64Array], params, 'classifier', d, cfg.numLabels, lora)[0] as Float64Array;
    logits.set(y, b * cfg.numLabels);
  }
  return logits;
}
