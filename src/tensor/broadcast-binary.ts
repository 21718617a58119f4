import { KernelModule } from './kernel-module.js';
import { F32, I32, inc, nextWhileBelow, op, V128, type Code, type FuncDef } from './wasm-asm.js';

/**
 * Elementwise add, sub, mul and div of float32 tensors, in place in a given memory, for the
 * broadcasts a transformer step makes: equal shapes, a bias along the last axes ([C] against
 * [R, C]), a per-row value ([R, 1] against [R, C], LayerNorm) and a scalar. The wasm backend's
 * own broadcasting path costs up to 90 us for a [1088, 64] - [1088, 1] subtraction; these loops
 * do one IEEE operation per element, the same as its kernels, four lanes at a time.
 *
 * Both operands are seen as [R, C]: a "vector" operand holds a row of C values every
 * `rowBytes` (C * 4 for a full tensor, 0 for a bias); a "splat" operand holds one value per row,
 * every `rowBytes` (4 for [R, 1], 0 for a scalar).
 */

export type BinaryOp = 'add' | 'sub' | 'mul' | 'div';
export type OperandMode = 'vector' | 'splat';

export interface BroadcastPlan {
  rows: number;
  cols: number;
  a: { mode: OperandMode; rowBytes: number };
  b: { mode: OperandMode; rowBytes: number };
}

type Role = 'full' | 'scalar' | 'trailing' | 'leading' | null;

const sizeOf = (shape: readonly number[]): number => {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
};

/**
 * How an operand of `shape` broadcasts to `out` (dims aligned from the right, missing ones
 * being 1); null when none of the four supported ways. Runs for every elementwise op of a
 * step, so it allocates nothing.
 */
function role(shape: readonly number[], out: readonly number[]): Role {
  const pad = out.length - shape.length;
  let equal = true;
  let first = -1;
  let last = -1;
  for (let i = 0; i < out.length; i++) {
    const d = i < pad ? 1 : (shape[i - pad] as number);
    if (d !== out[i]) equal = false;
    if (d !== 1) {
      if (first < 0) first = i;
      last = i;
    }
  }
  if (equal) return 'full';
  if (first < 0) return 'scalar';
  let trailing = true;
  for (let i = first; i < out.length; i++) if ((i < pad ? 1 : shape[i - pad]) !== out[i]) trailing = false;
  if (trailing) return 'trailing';
  for (let i = 0; i <= last; i++) if ((i < pad ? 1 : shape[i - pad]) !== out[i]) return null;
  return 'leading';
}

export function emptyPlan(): BroadcastPlan {
  return { rows: 0, cols: 0, a: { mode: 'vector', rowBytes: 0 }, b: { mode: 'vector', rowBytes: 0 } };
}

/**
 * The [R, C] view of a binary op with numpy broadcasting from `aShape` and `bShape` to `out`,
 * written into `into` (the kernels pass one they reuse), or null when not supported.
 */
export function planBroadcast(aShape: readonly number[], bShape: readonly number[], out: readonly number[], into: BroadcastPlan = emptyPlan()): BroadcastPlan | null {
  const n = sizeOf(out);
  if (n === 0) return null;
  const ra = role(aShape, out);
  const rb = role(bShape, out);
  if (ra === null || rb === null) return null;
  if (ra === 'full' && rb === 'full') {
    into.rows = 1;
    into.cols = n;
    into.a.mode = into.b.mode = 'vector';
    into.a.rowBytes = into.b.rowBytes = 4 * n;
    return into;
  }
  if (ra !== 'full' && rb !== 'full') return null;
  const aFull = ra === 'full';
  const other = aFull ? rb : ra;
  const otherSize = sizeOf(aFull ? bShape : aShape);
  const cols = other === 'trailing' ? otherSize : other === 'leading' ? n / otherSize : n;
  const full = aFull ? into.a : into.b;
  const small = aFull ? into.b : into.a;
  into.rows = n / cols;
  into.cols = cols;
  full.mode = 'vector';
  full.rowBytes = cols * 4;
  small.mode = other === 'trailing' ? 'vector' : 'splat';
  small.rowBytes = other === 'leading' ? 4 : 0;
  return into;
}

const SIMD_OP: Record<BinaryOp, Code> = { add: op.f32x4Add, sub: op.f32x4Sub, mul: op.f32x4Mul, div: op.f32x4Div };
const SCALAR_OP: Record<BinaryOp, Code> = { add: op.f32Add, sub: op.f32Sub, mul: op.f32Mul, div: op.f32Div };
const OPS: BinaryOp[] = ['add', 'sub', 'mul', 'div'];
const MODES: Array<[OperandMode, OperandMode]> = [['vector', 'vector'], ['vector', 'splat'], ['splat', 'vector']];

const { get, set, i32 } = op;

const funcName = (o: BinaryOp, a: OperandMode, b: OperandMode): string => `${o}_${a}_${b}`;

/** f(pa, pb, po, rows, cols, aRowBytes, bRowBytes). */
function binaryDef(o: BinaryOp, aMode: OperandMode, bMode: OperandMode): FuncDef {
  const [PA, PB, PO, ROWS, COLS, A_ROW, B_ROW] = [0, 1, 2, 3, 4, 5, 6];
  const [R, C, C4, QA, QB, QO, SA, SB, VA, VB] = [7, 8, 9, 10, 11, 12, 13, 14, 15, 16];
  const lanes = (mode: OperandMode, q: number, v: number): Code => (mode === 'vector' ? [get(q), op.v128Load()] : get(v));
  const scalar = (mode: OperandMode, q: number, s: number): Code => (mode === 'vector' ? [get(q), op.f32Load()] : get(s));
  const step = (mode: OperandMode, q: number, bytes: number): Code => (mode === 'vector' ? inc(q, i32(bytes)) : []);
  return {
    name: funcName(o, aMode, bMode),
    params: [I32, I32, I32, I32, I32, I32, I32],
    locals: [I32, I32, I32, I32, I32, I32, F32, F32, V128, V128],
    body: [
      get(COLS), i32(~3), op.i32And, set(C4),
      i32(0), set(R),
      op.loop([
        get(PA), set(QA), get(PB), set(QB), get(PO), set(QO),
        aMode === 'splat' ? [get(PA), op.f32Load(), op.set(SA), get(SA), op.f32x4Splat, set(VA)] : [],
        bMode === 'splat' ? [get(PB), op.f32Load(), op.set(SB), get(SB), op.f32x4Splat, set(VB)] : [],
        i32(0), set(C),
        get(C4), op.if([
          op.loop([
            get(QO), lanes(aMode, QA, VA), lanes(bMode, QB, VB), SIMD_OP[o], op.v128Store(),
            step(aMode, QA, 16), step(bMode, QB, 16), inc(QO, i32(16)),
            nextWhileBelow(C, i32(4), get(C4)),
          ]),
        ]),
        get(C), get(COLS), op.i32LtU, op.if([
          op.loop([
            get(QO), scalar(aMode, QA, SA), scalar(bMode, QB, SB), SCALAR_OP[o], op.f32Store(),
            step(aMode, QA, 4), step(bMode, QB, 4), inc(QO, i32(4)),
            nextWhileBelow(C, i32(1), get(COLS)),
          ]),
        ]),
        inc(PA, get(A_ROW)), inc(PB, get(B_ROW)),
        get(COLS), i32(4), op.i32Mul, set(QO), inc(PO, get(QO)),
        nextWhileBelow(R, i32(1), get(ROWS)),
      ]),
    ],
  };
}

type BinaryFunc = (pa: number, pb: number, po: number, rows: number, cols: number, aRowBytes: number, bRowBytes: number) => void;

export class BroadcastBinary {
  private readonly funcs = new Map<string, BinaryFunc>();

  constructor(memory: WebAssembly.Memory) {
    const defs = OPS.flatMap((o) => MODES.map(([a, b]) => binaryDef(o, a, b)));
    const module = new KernelModule(defs, memory);
    for (const d of defs) this.funcs.set(d.name, module.func(d.name));
  }

  /** out = a `o` b over the plan's [rows, cols], operands and output at byte addresses of the memory. */
  run(o: BinaryOp, plan: BroadcastPlan, a: number, b: number, out: number): void {
    const f = this.funcs.get(funcName(o, plan.a.mode, plan.b.mode));
    if (!f) throw new Error(`broadcast binary: no kernel for ${plan.a.mode} ${o} ${plan.b.mode}`);
    f(a, b, out, plan.rows, plan.cols, plan.a.rowBytes, plan.b.rowBytes);
  }
}
