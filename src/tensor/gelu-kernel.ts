import { KernelModule } from './kernel-module.js';
import { erffDef, erffX4, expfDef, expfX4, writeExpTable, type LaneLocals } from './musl-math.js';
import { F32, I32, inc, nextWhileBelow, op, V128, type FuncDef, type ValType } from './wasm-asm.js';

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

const { get, set, i32, f32 } = op;

/** geluForward(x, y, b, n): y = (x*0.5) * b with b = 1 + erf(x*SQRT1_2); byte pointers. */
function forwardDef(): FuncDef {
  const [PX, PY, PB, N, I, X, B] = [0, 1, 2, 3, 4, 5, 6];
  return {
    name: 'geluForward',
    params: [I32, I32, I32, I32],
    locals: [I32, F32, F32],
    body: [
      i32(0), set(I),
      op.loop([
        get(PX), op.f32Load(), set(X),
        f32(1), get(X), f32(SQRT1_2), op.f32Mul, op.call(ERFF), op.f32Add, set(B),
        get(PB), get(B), op.f32Store(),
        get(PY), get(X), f32(0.5), op.f32Mul, get(B), op.f32Mul, op.f32Store(),
        inc(PX, i32(4)), inc(PY, i32(4)), inc(PB, i32(4)),
        nextWhileBelow(I, i32(1), get(N)),
      ]),
    ],
  };
}

/**
 * geluBackward(x, b, dy, dx, n), as tfjs's autodiff of the composition computes it:
 * da = dy*b, db = dy*(x*0.5), du = db*(exp(-(u*u)) * 2/sqrt(pi)) with u = x*SQRT1_2,
 * dx = da*0.5 + du*SQRT1_2.
 */
function backwardDef(): FuncDef {
  const [PX, PB, PDY, PDX, N, I, X, DY, U] = [0, 1, 2, 3, 4, 5, 6, 7, 8];
  return {
    name: 'geluBackward',
    params: [I32, I32, I32, I32, I32],
    locals: [I32, F32, F32, F32],
    body: [
      i32(0), set(I),
      op.loop([
        get(PX), op.f32Load(), set(X),
        get(PDY), op.f32Load(), set(DY),
        get(X), f32(SQRT1_2), op.f32Mul, set(U),
        get(PDX),
        get(DY), get(PB), op.f32Load(), op.f32Mul, f32(0.5), op.f32Mul,
        get(DY), get(X), f32(0.5), op.f32Mul, op.f32Mul,
        get(U), get(U), op.f32Mul, op.f32Neg, op.call(EXPF), f32(TWO_OVER_SQRT_PI), op.f32Mul,
        op.f32Mul, f32(SQRT1_2), op.f32Mul,
        op.f32Add, op.f32Store(),
        inc(PX, i32(4)), inc(PB, i32(4)), inc(PDY, i32(4)), inc(PDX, i32(4)),
        nextWhileBelow(I, i32(1), get(N)),
      ]),
    ],
  };
}

/** Locals after a four-lane kernel's params: the loop counter, then LaneLocals, then `extra` v128s. */
function laneLocals(params: number, extra: number): { locals: ValType[]; I: number; lanes: LaneLocals; v: number[] } {
  const I = params;
  const lanes: LaneLocals = { mask: params + 1, x: params + 2, out: params + 3, t1: params + 4, t2: params + 5, t3: params + 6, t4: params + 7 };
  const v = Array.from({ length: extra }, (_, i) => params + 8 + i);
  return { locals: [I32, I32, ...new Array<ValType>(6 + extra).fill(V128)], I, lanes, v };
}

/** geluForwardX4(x, y, b, n): geluForward four lanes at a time; n a positive multiple of 4. */
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

/** geluBackwardX4(x, b, dy, dx, n): geluBackward four lanes at a time; n a positive multiple of 4. */
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

/**
 * The kernels work in place in a given memory (tfjs's wasm heap), on byte addresses, so no
 * operand is copied; `scratch` is EXP_TABLE_BYTES bytes of it, 8-byte aligned, for expf's table.
 */
export class GeluKernel {
  private readonly forwardRun: (x: number, y: number, b: number, n: number) => void;
  private readonly backwardRun: (x: number, b: number, dy: number, dx: number, n: number) => void;
  private readonly forwardX4: (x: number, y: number, b: number, n: number) => void;
  private readonly backwardX4: (x: number, b: number, dy: number, dx: number, n: number) => void;

  constructor(memory: WebAssembly.Memory, scratch: number) {
    if (scratch % 8 !== 0) throw new Error(`gelu kernel: scratch address ${scratch} is not 8-byte aligned`);
    const module = new KernelModule([expfDef(scratch), erffDef(EXPF), forwardDef(), backwardDef(), forwardX4Def(), backwardX4Def(scratch)], memory);
    writeExpTable(memory.buffer, scratch);
    this.forwardRun = module.func('geluForward');
    this.backwardRun = module.func('geluBackward');
    this.forwardX4 = module.func('geluForwardX4');
    this.backwardX4 = module.func('geluBackwardX4');
  }

  /** y = gelu(x) and b = 1 + erf(x * SQRT1_2) over n float32s at byte addresses x, y, b. */
  forward(x: number, y: number, b: number, n: number): void {
    const n4 = n & ~3;
    if (n4 > 0) this.forwardX4(x, y, b, n4);
    if (n > n4) this.forwardRun(x + 4 * n4, y + 4 * n4, b + 4 * n4, n - n4);
  }

  /** dx = gelu'(x) * dy over n float32s, given the forward's b. */
  backward(x: number, b: number, dy: number, dx: number, n: number): void {
    const n4 = n & ~3;
    if (n4 > 0) this.backwardX4(x, b, dy, dx, n4);
    if (n > n4) this.backwardRun(x + 4 * n4, b + 4 * n4, dy + 4 * n4, dx + 4 * n4, n - n4);
  }
}
