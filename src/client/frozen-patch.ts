/**
 * A change to a frozen client-model tensor, as it travels down: the whole tensor, or only some
 * rows or columns of a matrix (entries of a vector), so a realignment that touches a share p of
 * an FFN's neurons costs that share of its bytes.
 */
export interface FrozenPatch {
  name: string;
  axis: 'all' | 'rows' | 'cols';
  /** Rows, columns or entries replaced, ascending; null for 'all'. */
  indices: number[] | null;
  /** 'all': the tensor; 'rows': [indices, cols]; 'cols': [rows, indices], row-major. */
  data: Float32Array;
}

/** Bytes on the wire: the values plus 4 bytes per index. */
export function patchBytes(patches: readonly FrozenPatch[]): number {
  return patches.reduce((s, p) => s + p.data.byteLength + 4 * (p.indices?.length ?? 0), 0);
}

/** `current` (row-major, shape [rows, cols] or [n]) with the patch applied, as a new array. */
export function applyPatch(current: Float32Array, shape: readonly number[], patch: FrozenPatch): Float32Array {
  const out = current.slice();
  if (patch.axis === 'all') {
    if (patch.data.length !== out.length) throw new Error(`patch ${patch.name}: ${patch.data.length} values for a tensor of ${out.length}`);
    out.set(patch.data);
    return out;
  }
  const idx = patch.indices ?? [];
  const cols = shape.length === 1 ? 1 : (shape[shape.length - 1] as number);
  const rows = out.length / cols;
  if (patch.axis === 'rows') {
    if (patch.data.length !== idx.length * cols) throw new Error(`patch ${patch.name}: wrong row data size`);
    idx.forEach((r, i) => out.set(patch.data.subarray(i * cols, (i + 1) * cols), r * cols));
  } else {
    if (patch.data.length !== idx.length * rows) throw new Error(`patch ${patch.name}: wrong column data size`);
    for (let r = 0; r < rows; r++) idx.forEach((c, i) => (out[r * cols + c] = patch.data[r * idx.length + i] as number));
  }
  return out;
}

/** The patch that carries rows (axis 'rows') or columns ('cols') `indices` of `source`. */
export function extractPatch(name: string, source: Float32Array, shape: readonly number[], axis: 'rows' | 'cols', indices: number[]): FrozenPatch {
  const cols = shape.length === 1 ? 1 : (shape[shape.length - 1] as number);
  const rows = source.length / cols;
  const data = new Float32Array(axis === 'rows' ? indices.length * cols : rows * indices.length);
  if (axis === 'rows') indices.forEach((r, i) => data.set(source.subarray(r * cols, (r + 1) * cols), i * cols));
  else for (let r = 0; r < rows; r++) indices.forEach((c, i) => (data[r * indices.length + i] = source[r * cols + c] as number));
  return { name, axis, indices: [...indices], data };
}
