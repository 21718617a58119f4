import { KernelModule } from './kernel-module.js';
import { erffDef, erffX4, EXP_TABLE_BYTES, expfDef, expfX4, writeExpTable, type LaneLocals } from './musl-math.js';
import { I32, inc, nextWhileBelow, op, V128, type FuncDef, type ValType } from './wasm-asm.js';

/**
 * GELU, gelu(x) = (x * 0.5) * (1 + erf(x * SQRT1_2)), forward and backward in one pass each.
 *
 * The model's gelu composes five tfjs ops, and its gradient another eight (tfjs's Erf gradient
 * is dy * (exp(-u^2) * 2/sqrt(pi))); on the ViT they cost about a fifth of a train step, most of
 * it in wasm's Erf and Exp and in the passes over [tokens, d_ff] between them. These kernels
 * do the same float32 operations in the same order, with musl's erff and expf
 * (src/tensor/musl-math.ts), so they are bit-identical to the composition: the forward also
 * returns b = 1 + erf(x * SQRT1_2), which the composed graph keeps for its gradient, so the
 * backward does not compute erf again.
 */

const EXPF = 0;
const ERFF = 1;
/** The scalars as tfjs holds them: float32 tensors made from the JavaScript numbers. */
const SQRT1_2 = Math.fround(Math.SQRT1_2);
const TWO_OVER_SQRT_PI = Math.fround(2 / Math.sqrt(Math.PI));

const { get, set, i32 } = op;

/** Locals after a four-lane kernel's params: the loop counter, then LaneLocals, then `extra` v128s. */
function laneLocals(params: number, extra: number): { locals: ValType[]; I: number; lanes: LaneLocals; v: number[] } {
  const I = params;
  const lanes: LaneLocals = { mask: params + 1, x: params + 2, out: params + 3, t1: params + 4, t2: params + 5, t3: params + 6, t4: params + 7 };
  const v = Array.from({ length: extra }, (_, i) => params + 8 + i);
  return { locals: [I32, I32, ...new Array<ValType>(6 + extra).fill(V128)], I, lanes, v };
}

/** geluForwardX4(x, y, b, n): y = (x*0.5) * b with b = 1 + erf(x*SQRT1_2), four lanes at a time; byte addresses, n a positive multiple of 4. */
function forwardX4Def(): FuncDef {
  const [PX, PY, PB, N] = [0, 1, 2, 3];
  const { locals, I, lanes: L, v } = laneLocals(4, 2);
  const [X, B] = v as [number, number];
  return {
    name: 'geluForwardX4',
    params: [I32, I32, I32, I32],
    locals,
    body: [
      i32(0), set(I),
      op.loop([
        get(PX), op.v128Load(), set(X),
        get(X), op.f32x4Const(SQRT1_2), op.f32x4Mul, set(L.x),
        erffX4(L, ERFF),
        op.f32x4Const(1), get(L.out), op.f32x4Add, set(B),
        get(PB), get(B), op.v128Store(),
        get(PY), get(X), op.f32x4Const(0.5), op.f32x4Mul, get(B), op.f32x4Mul, op.v128Store(),
        inc(PX, i32(16)), inc(PY, i32(16)), inc(PB, i32(16)),
        nextWhileBelow(I, i32(4), get(N)),
      ]),
    ],
  };
}

/**
 * geluBackwardX4(x, b, dy, dx, n), as tfjs's autodiff of the composition computes it:
 * da = dy*b, db = dy*(x*0.5), du = db*(exp(-(u*u)) * 2/sqrt(pi)) with u = x*SQRT1_2,
 * dx = da*0.5 + du*SQRT1_2; four lanes at a time, n a positive multiple of 4.
 */
function backwardX4Def(table: number): FuncDef {
  const [PX, PB, PDY, PDX, N] = [0, 1, 2, 3, 4];
  const { locals, I, lanes: L, v } = laneLocals(5, 2);
  const [X, DY] = v as [number, number];
  return {
    name: 'geluBackwardX4',
    params: [I32, I32, I32, I32, I32],
    locals,
    body: [
      i32(0), set(I),
      op.loop([
        get(PX), op.v128Load(), set(X),
        get(PDY), op.v128Load(), set(DY),
        get(X), op.f32x4Const(SQRT1_2), op.f32x4Mul, set(L.x),
        get(L.x), get(L.x), op.f32x4Mul, op.f32x4Neg, set(L.x),
        expfX4(L, EXPF, table),
        get(PDX),
        get(DY), get(PB), op.v128Load(), op.f32x4Mul, op.f32x4Const(0.5), op.f32x4Mul,
        get(DY), get(X), op.f32x4Const(0.5), op.f32x4Mul, op.f32x4Mul,
        get(L.out), op.f32x4Const(TWO_OVER_SQRT_PI), op.f32x4Mul,
        op.f32x4Mul, op.f32x4Const(SQRT1_2), op.f32x4Mul,
        op.f32x4Add, op.v128Store(),
        inc(PX, i32(16)), inc(PB, i32(16)), inc(PDY, i32(16)), inc(PDX, i32(16)),
        nextWhileBelow(I, i32(4), get(N)),
      ]),
    ],
  };
}

/** Scratch the kernels need: expf's table, then four lanes for each of four tail operands. */
export const GELU_SCRATCH_BYTES = EXP_TABLE_BYTES + 4 * 16;

/**
 * The kernels work in place in a given memory (tfjs's wasm heap), on byte addresses, so no
 * operand is copied; `scratch` is GELU_SCRATCH_BYTES bytes of it, 8-byte aligned. A length
 * that is not a multiple of 4 ends with one four-lane pass over the last elements staged in
 * scratch, so every element goes through the same code.
 */
export class GeluKernel {
  private readonly forwardX4: (x: number, y: number, b: number, n: number) => void;
  private readonly backwardX4: (x: number, b: number, dy: number, dx: number, n: number) => void;
  private readonly lanes: number;

  constructor(private readonly memory: WebAssembly.Memory, scratch: number) {
    if (scratch % 8 !== 0) throw new Error(`gelu kernel: scratch address ${scratch} is not 8-byte aligned`);
    const module = new KernelModule([expfDef(scratch), erffDef(EXPF), forwardX4Def(), backwardX4Def(scratch)], memory);
    writeExpTable(memory.buffer, scratch);
    this.forwardX4 = module.func('geluForwardX4');
    this.backwardX4 = module.func('geluBackwardX4');
    this.lanes = scratch + EXP_TABLE_BYTES;
  }

  /** y = gelu(x) and b = 1 + erf(x * SQRT1_2) over n float32s at byte addresses x, y, b. */
  forward(x: number, y: number, b: number, n: number): void {
    this.inFours(n, [x], [y, b], ([px, py, pb], m) => this.forwardX4(px as number, py as number, pb as number, m));
  }

  /** dx = gelu'(x) * dy over n float32s, given the forward's b. */
  backward(x: number, b: number, dy: number, dx: number, n: number): void {
    this.inFours(n, [x, b, dy], [dx], ([px, pb, pdy, pdx], m) => this.backwardX4(px as number, pb as number, pdy as number, pdx as number, m));
  }

  /**
   * run(addresses, m) over the first n & ~3 elements in place (addresses: the inputs', then the
   * outputs'), then over 4 lanes in scratch for the rest: the inputs' last elements copied in,
   * the outputs' copied back.
   */
  private inFours(n: number, inputs: number[], outputs: number[], run: (addresses: number[], m: number) => void): void {
    const n4 = n & ~3;
    if (n4 > 0) run([...inputs, ...outputs], n4);
    const rest = n - n4;
    if (rest === 0) return;
    const lane = (i: number): number => this.lanes + 16 * i;
    const heap = new Float32Array(this.memory.buffer);
    inputs.forEach((a, i) => {
      heap.fill(0, lane(i) / 4, lane(i) / 4 + 4);
      heap.copyWithin(lane(i) / 4, (a + 4 * n4) / 4, (a + 4 * n) / 4);
    });
    run([...inputs, ...outputs].map((_, i) => lane(i)), 4);
    outputs.forEach((a, i) => heap.copyWithin((a + 4 * n4) / 4, lane(inputs.length + i) / 4, lane(inputs.length + i) / 4 + rest));
  }
}
