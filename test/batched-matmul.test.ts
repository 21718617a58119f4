import { describe, expect, it } from 'vitest';
import { BatchedMatMul, DEFAULT_TILE, K_BLOCK, UNBLOCKED, type Tile } from '../src/tensor/batched-matmul.js';
import { sleb, uleb } from '../src/tensor/wasm-asm.js';
import { Rng } from '../src/util/rng.js';
import { randomNormal } from './helpers/numeric.js';

/**
 * tfjs wasm's slow_batch_matmul written out as a scalar loop: per output, a float32 sum over k
 * in order, restarted every K_BLOCK, each block's sum added to the output.
 */
function blockedReference(a: Float32Array, b: Float32Array, batch: number, m: number, k: number, n: number): Float32Array {
  const f = Math.fround;
  const out = new Float32Array(batch * m * n);
  for (let t = 0; t < batch; t++) {
    for (let i = 0; i < m; i++) {
      for (let j = 0; j < n; j++) {
        let o = 0;
        for (let k0 = 0; k0 < k; k0 += K_BLOCK) {
          let s = 0;
          for (let p = k0; p < Math.min(k0 + K_BLOCK, k); p++) s = f(s + f((a[(t * m + i) * k + p] as number) * (b[(t * k + p) * n + j] as number)));
          o = f(o + s);
        }
        out[(t * m + i) * n + j] = o;
      }
    }
  }
  return out;
}

const bits = (x: Float32Array): Buffer => Buffer.from(x.buffer, x.byteOffset, x.byteLength);

describe('wasm binary encoding', () => {
  it('writes LEB128 as the specification examples', () => {
    expect(uleb(0)).toEqual([0]);
    expect(uleb(127)).toEqual([0x7f]);
    expect(uleb(128)).toEqual([0x80, 0x01]);
    expect(uleb(624485)).toEqual([0xe5, 0x8e, 0x26]);
    expect(sleb(-1)).toEqual([0x7f]);
    expect(sleb(63)).toEqual([0x3f]);
    expect(sleb(64)).toEqual([0xc0, 0x00]);
    expect(sleb(-123456)).toEqual([0xc0, 0xbb, 0x78]);
  });
});

const TILES: [string, Tile][] = [
  ['default tile', DEFAULT_TILE],
  ['2 x 4 vectors', { rows: 2, vecs: 4 }],
  ['3 x 1 vector', { rows: 3, vecs: 1 }],
];

type ArrayMatMul = (a: Float32Array, b: Float32Array, out: Float32Array, batch: number, m: number, k: number, n: number, tA?: boolean, tB?: boolean) => void;

/** The kernel on arrays: operands copied into a memory of its own, the product copied out (the wasm backend passes heap addresses instead). */
function onArrays(tile: Tile, kBlock = K_BLOCK): ArrayMatMul {
  const memory = new WebAssembly.Memory({ initial: 1 });
  const kernel = new BatchedMatMul(tile, kBlock, memory);
  const grow = (bytes: number): Float32Array => {
    const have = memory.buffer.byteLength;
    if (bytes > have) memory.grow(Math.ceil((bytes - have) / 65536));
    return new Float32Array(memory.buffer);
  };
  return (a, b, out, batch, m, k, n, tA = false, tB = false) => {
    const at = { a: 0, b: a.length * 4, out: (a.length + b.length) * 4 };
    const end = at.out + out.length * 4;
    const heap = grow(end);
    heap.set(a, 0);
    heap.set(b, at.b / 4);
    kernel.matMulAt(at, { reserve: (bytes) => (grow(end + bytes), end) }, batch, m, k, n, tA, tB);
    out.set(new Float32Array(memory.buffer, at.out, out.length));
  };
}

describe.each(TILES)('SIMD batched matMul kernel (%s)', (_label, tile) => {
  const matMul = onArrays(tile);
  // Shapes around the 4-row / 8-column tile and the 48-wide k blocks, plus the FMs' attention.
  const shapes: [number, number, number, number][] = [
    [1, 4, 1, 8],
    [3, 5, 7, 4],
    [2, 17, 16, 17],
    [2, 17, 17, 16],
    [4, 64, 64, 32],
    [2, 9, 100, 13],
    [1, 8, 48, 8],
    [1, 8, 49, 8],
    [2, 3, 97, 3],
    [1, 1, 145, 1],
  ];
  it.each(shapes)('is bit-identical to the blocked scalar loop: [%i, %i, %i] x [%i, ., .]', (batch, m, k, n) => {
    const rng = new Rng(`bmm/${batch}/${m}/${k}/${n}`);
    // Magnitudes over many decades so that any change of summation order shows in the bits.
    const a = randomNormal(rng, batch * m * k).map((x, i) => x * 10 ** ((i % 7) - 3));
    const b = randomNormal(rng, batch * k * n);
    const out = new Float32Array(batch * m * n).fill(NaN);
    matMul(a, b, out, batch, m, k, n);
    expect(bits(out).equals(bits(blockedReference(a, b, batch, m, k, n)))).toBe(true);
  });

  it("sums in one run over k when unblocked (XNNPACK's order), which differs from the blocked result", () => {
    const rng = new Rng('bmm/unblocked');
    const [batch, m, k, n] = [2, 9, 100, 11];
    const a = randomNormal(rng, batch * m * k).map((x, i) => x * 10 ** ((i % 7) - 3));
    const b = randomNormal(rng, batch * k * n);
    const plain = new Float32Array(batch * m * n);
    for (let t = 0; t < batch; t++) {
      for (let i = 0; i < m; i++) {
        for (let j = 0; j < n; j++) {
          let s = 0;
          for (let p = 0; p < k; p++) s = Math.fround(s + Math.fround((a[(t * m + i) * k + p] as number) * (b[(t * k + p) * n + j] as number)));
          plain[(t * m + i) * n + j] = s;
        }
      }
    }
    const unblocked = new Float32Array(batch * m * n);
    onArrays(tile, UNBLOCKED)(a, b, unblocked, batch, m, k, n);
    expect(bits(unblocked).equals(bits(plain))).toBe(true);
    const blocked = new Float32Array(batch * m * n);
    matMul(a, b, blocked, batch, m, k, n);
    expect(bits(blocked).equals(bits(plain))).toBe(false);
  });

  it.each([
    [1, 1, 1, 1],
    [3, 5, 7, 4],
    [2, 17, 33, 19],
    [1, 40, 20, 70],
  ])('takes transposed operands (stored with the last two axes swapped): batch %i, m %i, k %i, n %i', (batch, m, k, n) => {
    const rng = new Rng(`bmm/transposed/${batch}/${m}/${k}/${n}`);
    const a = randomNormal(rng, batch * m * k);
    const b = randomNormal(rng, batch * k * n);
    /** x (batch x rows x cols) with its last two axes swapped, by a plain loop. */
    const swap = (x: Float32Array, rows: number, cols: number): Float32Array => {
      const out = new Float32Array(x.length);
      for (let t = 0; t < batch; t++) for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) out[(t * cols + c) * rows + r] = x[(t * rows + r) * cols + c] as number;
      return out;
    };
    const expected = blockedReference(a, b, batch, m, k, n);
    for (const [tA, tB] of [[true, false], [false, true], [true, true]] as const) {
      const out = new Float32Array(batch * m * n).fill(NaN);
      matMul(tA ? swap(a, m, k) : a, tB ? swap(b, k, n) : b, out, batch, m, k, n, tA, tB);
      expect(bits(out).equals(bits(expected)), `transposeA=${tA} transposeB=${tB}`).toBe(true);
    }
  });

  it('stages large operands that need padding in scratch, and rejects an empty shape', () => {
    const [batch, m, k, n] = [8, 63, 128, 63];
    const rng = new Rng('bmm/large');
    const a = randomNormal(rng, batch * m * k);
    const b = randomNormal(rng, batch * k * n);
    const out = new Float32Array(batch * m * n);
    matMul(a, b, out, batch, m, k, n);
    expect(bits(out).equals(bits(blockedReference(a, b, batch, m, k, n)))).toBe(true);
    expect(() => matMul(a, b, out, 0, m, k, n)).toThrow(/empty/);
  });

  it.each([
    [1, 8, 16, 8, false, false],
    [2, 17, 20, 13, false, false],
    [3, 12, 9, 16, true, false],
    [1, 5, 33, 24, false, true],
  ])('works in place in a shared memory, staging only what needs padding or transposing: batch %i, m %i, k %i, n %i, tA %s, tB %s', (batch, m, k, n, tA, tB) => {
    const rng = new Rng(`bmm/shared/${batch}/${m}/${k}/${n}`);
    const a = randomNormal(rng, batch * m * k);
    const b = randomNormal(rng, batch * k * n);
    const memory = new WebAssembly.Memory({ initial: 4 });
    const shared = new BatchedMatMul(tile, K_BLOCK, memory);
    // Operands with a guard value around the output, which in-place writes must not touch.
    const at = { a: 64, b: 64 + a.length * 4, out: 128 + (a.length + b.length) * 4 };
    const guard = at.out / 4 + batch * m * n;
    const scratchAt = (guard + 16) * 4;
    const heap = () => new Float32Array(memory.buffer);
    heap().set(a, at.a / 4);
    heap().set(b, at.b / 4);
    heap()[at.out / 4 - 1] = 42;
    heap()[guard] = 42;
    const reserved: number[] = [];
    shared.matMulAt(at, { reserve: (bytes) => (reserved.push(bytes), scratchAt) }, batch, m, k, n, tA, tB);
    const expected = new Float32Array(batch * m * n);
    matMul(a, b, expected, batch, m, k, n, tA, tB);
    expect(bits(heap().slice(at.out / 4, guard)).equals(bits(expected))).toBe(true);
    expect([heap()[at.out / 4 - 1], heap()[guard]]).toEqual([42, 42]);
    const inPlace = !tA && !tB && m % tile.rows === 0 && n % (4 * tile.vecs) === 0;
    expect(reserved.length === 0).toBe(inPlace);
  });
});
