import { describe, expect, it } from 'vitest';
import { TransposeLast } from '../src/tensor/transpose-last.js';
import { Rng } from '../src/util/rng.js';
import { randomNormal } from './helpers/numeric.js';

describe('wasm transpose of the last two axes', () => {
  const t = new TransposeLast();
  // Around the 16-row block, single rows and columns, and the FMs' backward shapes.
  it.each([
    [1, 1, 1],
    [1, 1, 9],
    [1, 9, 1],
    [3, 5, 7],
    [2, 16, 3],
    [2, 17, 33],
    [1, 1024, 128],
    [32, 128, 32],
  ])('equals a plain loop: batch %i, [%i, %i]', (batch, rows, cols) => {
    const x = randomNormal(new Rng(`transpose/${batch}/${rows}/${cols}`), batch * rows * cols);
    const expected = new Float32Array(x.length);
    for (let b = 0; b < batch; b++) {
      for (let r = 0; r < rows; r++) {
        for (let c = 0; c < cols; c++) expected[b * rows * cols + c * rows + r] = x[b * rows * cols + r * cols + c] as number;
      }
    }
    const out = new Float32Array(x.length).fill(NaN);
    t.transpose(x, out, batch, rows, cols);
    expect(out).toEqual(expected);
  });

  it('rejects operands whose size does not match the shape', () => {
    expect(() => t.transpose(new Float32Array(6), new Float32Array(6), 1, 2, 4)).toThrow(/sizes/);
  });
});
