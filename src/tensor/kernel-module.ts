import { assembleModule, I32, inc, nextWhileBelow, op, type FuncDef } from './wasm-asm.js';

const PAGE = 65536;
const { get, set, i32 } = op;

/**
 * Project kernels instantiated together, with their own memory that grows on demand, or with
 * `shared`, another module's memory (tfjs's wasm heap), so they read and write tensors in place.
 */
export class KernelModule {
  private readonly memory: WebAssembly.Memory;
  private readonly exports: WebAssembly.Exports;

  constructor(funcs: FuncDef[], shared?: WebAssembly.Memory) {
    const bytes = assembleModule(funcs, 1, shared !== undefined);
    const instance = new WebAssembly.Instance(new WebAssembly.Module(bytes), shared ? { env: { memory: shared } } : {});
    this.exports = instance.exports;
    this.memory = shared ?? (instance.exports['memory'] as WebAssembly.Memory);
  }

  func<F>(name: string): F {
    const f = this.exports[name];
    if (typeof f !== 'function') throw new Error(`wasm kernel module has no function ${name}`);
    return f as F;
  }

  /** A float32 view of the whole memory, grown first to at least `bytes` (growing detaches older views). */
  heap(bytes: number): Float32Array {
    const have = this.memory.buffer.byteLength;
    if (bytes > have) this.memory.grow(Math.ceil((bytes - have) / PAGE));
    return new Float32Array(this.memory.buffer);
  }
}

/**
 * copyRows(src, srcStride, dst, dstStride, rows, bytes): `rows` runs of `bytes` bytes, strides
 * in bytes. Padding and unpadding in one call each: row by row from JavaScript cost more than
 * the product itself for the ViT's 17 x 17 attention.
 */
export function copyRows(): FuncDef {
  const [SRC, SRC_STRIDE, DST, DST_STRIDE, ROWS, BYTES, R] = [0, 1, 2, 3, 4, 5, 6];
  return {
    name: 'copyRows',
    params: [I32, I32, I32, I32, I32, I32],
    locals: [I32],
    body: [
      i32(0), set(R),
      op.loop([
        get(DST), get(SRC), get(BYTES), op.memoryCopy,
        inc(SRC, get(SRC_STRIDE)), inc(DST, get(DST_STRIDE)),
        nextWhileBelow(R, i32(1), get(ROWS)),
      ]),
    ],
  };
}

export type CopyRows = (src: number, srcStride: number, dst: number, dstStride: number, rows: number, bytes: number) => void;
