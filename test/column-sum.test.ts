import { describe, expect, it } from 'vitest';
import { ColumnSum } from '../src/tensor/column-sum.js';
import { Rng } from '../src/util/rng.js';
import { randomNormal } from './helpers/numeric.js';

describe('wasm column sums', () => {
  const k = new ColumnSum();
  it.each([
    [1, 1],
    [3, 5],
    [7, 16],
    [33, 17],
    [1024, 512],
  ])('equal a float32 loop adding each column top to bottom: [%i, %i]', (rows, cols) => {
    const x = randomNormal(new Rng(`colsum/${rows}/${cols}`), rows * cols).map((v, i) => v * 10 ** ((i % 7) - 3));
    const expected = new Float32Array(cols);
    for (let c = 0; c < cols; c++) {
      let s = 0;
      for (let r = 0; r < rows; r++) s = Math.fround(s + (x[r * cols + c] as number));
      expected[c] = s;
    }
    const out = new Float32Array(cols).fill(NaN);
    k.sum(x, out, rows, cols);
    expect(out).toEqual(expected);
  });

  it('rejects empty and mismatched shapes', () => {
    expect(() => k.sum(new Float32Array(0), new Float32Array(0), 0, 3)).toThrow(/empty/);
    expect(() => k.sum(new Float32Array(6), new Float32Array(2), 2, 3)).toThrow(/sizes/);
  });
});
