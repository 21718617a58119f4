import { F32, F64, I32, I64, op, type Code, type FuncDef } from './wasm-asm.js';

/**
 * expf and erff as the wasm backend computes them: transcriptions of the musl libm that
 * Emscripten links into tfjs-backend-wasm (expf: Arm's table-driven version, in double
 * precision; erff: FreeBSD's, in float), operation for operation, so that a kernel using them
 * gives tfjs's Exp and Erf bit for bit. WebAssembly has no fused multiply-add and its float
 * arithmetic is IEEE with round-to-nearest, so the same operations in the same order give the
 * same bits as the C compiled to WebAssembly.
 *
 * expf reads a 32-entry table of 64-bit words at a fixed byte address of the module's memory,
 * which `writeExpTable` fills.
 */

export const EXP_TABLE_BYTES = 32 * 8;

/** tab[i] = bits(2^(i/32)) - (i << 47): musl's __exp2f_data.tab. */
const EXP2F_TAB = [
  0x3ff0000000000000n, 0x3fefd9b0d3158574n, 0x3fefb5586cf9890fn, 0x3fef9301d0125b51n, 0x3fef72b83c7d517bn, 0x3fef54873168b9aan,
  0x3fef387a6e756238n, 0x3fef1e9df51fdee1n, 0x3fef06fe0a31b715n, 0x3feef1a7373aa9cbn, 0x3feedea64c123422n, 0x3feece086061892dn,
  0x3feebfdad5362a27n, 0x3feeb42b569d4f82n, 0x3feeab07dd485429n, 0x3feea47eb03a5585n, 0x3feea09e667f3bcdn, 0x3fee9f75e8ec5f74n,
  0x3feea11473eb0187n, 0x3feea589994cce13n, 0x3feeace5422aa0dbn, 0x3feeb737b0cdc5e5n, 0x3feec49182a3f090n, 0x3feed503b23e255dn,
  0x3feee89f995ad3adn, 0x3feeff76f2fb5e47n, 0x3fef199bdd85529cn, 0x3fef3720dcef9069n, 0x3fef5818dcfba487n, 0x3fef7c97337b9b5fn,
  0x3fefa4afa2a490dan, 0x3fefd0765b6e4540n,
];

export function writeExpTable(memory: ArrayBufferLike, address: number): void {
  new BigUint64Array(memory, address, EXP2F_TAB.length).set(EXP2F_TAB);
}

/** A C99 hexadecimal float literal ("0x1.8p+52") as its exact double. */
function hexFloat(literal: string): number {
  const m = /^(-?)0x([0-9a-f])\.([0-9a-f]*)p([+-]\d+)$/i.exec(literal);
  if (!m) throw new Error(`not a hexadecimal float literal: ${literal}`);
  const [, sign, lead, frac, exp] = m as unknown as [string, string, string, string, string];
  const value = Number(BigInt(`0x${lead}${frac}`)) * 2 ** (Number(exp) - 4 * frac.length);
  return sign === '-' ? -value : value;
}

const N = 32;
const INV_LN2_N = hexFloat('0x1.71547652b82fep+0') * N;
const SHIFT = hexFloat('0x1.8p+52');
const POLY = [hexFloat('0x1.c6af84b912394p-5') / N / N / N, hexFloat('0x1.ebfce50fac4f3p-3') / N / N, hexFloat('0x1.62e42ff0c52d6p-1') / N];
const OVERFLOW = hexFloat('0x1.62e42ep+6');
const UNDERFLOW = -hexFloat('0x1.9fe368p+6');

const { get, set, i32, f32, f64 } = op;

/** expf(x: f32) -> f32, with the table at byte `table` (8-byte aligned). */
export function expfDef(table: number): FuncDef {
  const [X, Z, KD, R, S, KI, ABSTOP] = [0, 1, 2, 3, 4, 5, 6];
  return {
    name: 'expf',
    params: [F32],
    results: [F32],
    locals: [F64, F64, F64, F64, I64, I32],
    body: [
      get(X), op.i32ReinterpretF32, i32(20), op.i32ShrU, i32(0x7ff), op.i32And, set(ABSTOP),
      // |x| >= 88 or NaN.
      get(ABSTOP), i32(0x42b), op.i32GeU, op.if([
        get(X), op.i32ReinterpretF32, i32(0xff800000 | 0), op.i32Eq, op.if([f32(0), op.return]),
        get(ABSTOP), i32(0x7f8), op.i32GeU, op.if([get(X), get(X), op.f32Add, op.return]),
        get(X), f32(OVERFLOW), op.f32Gt, op.if([f32(Infinity), op.return]),
        get(X), f32(UNDERFLOW), op.f32Lt, op.if([f32(0), op.return]),
      ]),
      // x*N/ln2 = k + r, k rounded to nearest through the shift.
      get(X), op.f64PromoteF32, f64(INV_LN2_N), op.f64Mul, set(Z),
      get(Z), f64(SHIFT), op.f64Add, set(KD),
      get(KD), op.i64ReinterpretF64, set(KI),
      get(KD), f64(SHIFT), op.f64Sub, set(KD),
      get(Z), get(KD), op.f64Sub, set(R),
      // s = 2^(k/N) = asdouble(tab[k % N] + (k << 47)).
      get(KI), op.i32WrapI64, i32(N - 1), op.i32And, i32(3), op.i32Shl, op.i64Load(table),
      get(KI), op.i64(47), op.i64Shl, op.i64Add, op.f64ReinterpretI64, set(S),
      // (C0 r + C1) r^2 + (C2 r + 1), times s.
      get(R), f64(POLY[0] as number), op.f64Mul, f64(POLY[1] as number), op.f64Add,
      get(R), get(R), op.f64Mul, op.f64Mul,
      get(R), f64(POLY[2] as number), op.f64Mul, f64(1), op.f64Add,
      op.f64Add, get(S), op.f64Mul, op.f32DemoteF64,
    ],
  };
}

const C = Math.fround;
const ERX = C(8.4506291151e-1);
const EFX8 = C(1.0270333290e+0);
const PP = [1.2837916613e-1, -3.2504209876e-1, -2.8481749818e-2, -5.7702702470e-3, -2.3763017452e-5].map(C);
const QQ = [1, 3.9791721106e-1, 6.5022252500e-2, 5.0813062117e-3, 1.3249473704e-4, -3.9602282413e-6].map(C);
const PA = [-2.3621185683e-3, 4.1485610604e-1, -3.7220788002e-1, 3.1834661961e-1, -1.1089469492e-1, 3.5478305072e-2, -2.1663755178e-3].map(C);
const QA = [1, 1.0642088205e-1, 5.4039794207e-1, 7.1828655899e-2, 1.2617121637e-1, 1.3637083583e-2, 1.1984500103e-2].map(C);
const RA = [-9.8649440333e-3, -6.9385856390e-1, -1.0558626175e+1, -6.2375331879e+1, -1.6239666748e+2, -1.8460508728e+2, -8.1287437439e+1, -9.8143291473e+0].map(C);
const SA = [1, 1.9651271820e+1, 1.3765776062e+2, 4.3456588745e+2, 6.4538726807e+2, 4.2900814819e+2, 1.0863500214e+2, 6.5702495575e+0, -6.0424413532e-2].map(C);
const RB = [-9.8649431020e-3, -7.9928326607e-1, -1.7757955551e+1, -1.6063638306e+2, -6.3756646729e+2, -1.0250950928e+3, -4.8351919556e+2].map(C);
const SB = [1, 3.0338060379e+1, 3.2579251099e+2, 1.5367296143e+3, 3.1998581543e+3, 2.5530502930e+3, 4.7452853394e+2, -2.2440952301e+1].map(C);

/** Float32 arithmetic on one value or on four lanes: the same operations, so the same rounding per lane. */
interface Lanes {
  constant: (v: number) => Code;
  mul: Code;
  add: Code;
}
const SCALAR: Lanes = { constant: f32, mul: op.f32Mul, add: op.f32Add };
const X4: Lanes = { constant: op.f32x4Const, mul: op.f32x4Mul, add: op.f32x4Add };

/** c0 + s*(c1 + s*(... + s*cn)) in float32, rounded after every operation as C evaluates it. */
function horner(s: number, coeffs: number[], lanes: Lanes = SCALAR): Code {
  let acc: Code = lanes.constant(coeffs[coeffs.length - 1] as number);
  for (let i = coeffs.length - 2; i >= 0; i--) acc = [lanes.constant(coeffs[i] as number), get(s), acc, lanes.mul, lanes.add];
  return acc;
}

/** erff(x: f32) -> f32; `expf` is the module's function index of expfDef. */
export function erffDef(expf: number): FuncDef {
  const [X, IX, SIGN, Z, S, R, SS, A, Y] = [0, 1, 2, 3, 4, 5, 6, 7, 8];
  return {
    name: 'erff',
    params: [F32],
    results: [F32],
    locals: [I32, I32, F32, F32, F32, F32, F32, F32],
    body: [
      get(X), op.i32ReinterpretF32, set(IX),
      get(IX), i32(31), op.i32ShrU, set(SIGN),
      get(IX), i32(0x7fffffff), op.i32And, set(IX),
      // |x| < 0.84375.
      get(IX), i32(0x3f580000), op.i32LtU, op.if([
        get(IX), i32(0x31800000), op.i32LtU, op.if([
          f32(0.125), f32(8), get(X), op.f32Mul, f32(EFX8), get(X), op.f32Mul, op.f32Add, op.f32Mul, op.return,
        ]),
        get(X), get(X), op.f32Mul, set(Z),
        get(X), get(X), horner(Z, PP), horner(Z, QQ), op.f32Div, op.f32Mul, op.f32Add, op.return,
      ]),
      // NaN and infinities: 1 - 2 sign + 1/x.
      get(IX), i32(0x7f800000), op.i32GeU, op.if([
        i32(1), get(SIGN), i32(2), op.i32Mul, op.i32Sub, op.f32ConvertI32S, f32(1), get(X), op.f32Div, op.f32Add, op.return,
      ]),
      f32(C(1 - 2 ** -120)), set(Y),
      // |x| < 6: y = 1 - erfc2(x).
      get(IX), i32(0x40c00000), op.i32LtU, op.if([
        get(IX), i32(0x3fa00000), op.i32LtU, op.if([
          get(X), op.f32Abs, f32(1), op.f32Sub, set(S),
          f32(C(1 - ERX)), horner(S, PA), horner(S, QA), op.f32Div, op.f32Sub, set(Y),
        ], [
          get(X), op.f32Abs, set(A),
          f32(1), get(A), get(A), op.f32Mul, op.f32Div, set(S),
          get(IX), i32(0x4036db6d), op.i32LtU, op.if(
            [horner(S, RA), set(R), horner(S, SA), set(SS)],
            [horner(S, RB), set(R), horner(S, SB), set(SS)],
          ),
          get(A), op.i32ReinterpretF32, i32(0xffffe000 | 0), op.i32And, op.f32ReinterpretI32, set(Z),
          get(Z), op.f32Neg, get(Z), op.f32Mul, f32(0.5625), op.f32Sub, op.call(expf),
          get(Z), get(A), op.f32Sub, get(Z), get(A), op.f32Add, op.f32Mul, get(R), get(SS), op.f32Div, op.f32Add, op.call(expf),
          op.f32Mul, get(A), op.f32Div, set(Y),
        ]),
        f32(1), get(Y), op.f32Sub, set(Y),
      ]),
      get(Y), op.f32Neg, get(Y), get(SIGN), op.select,
    ],
  };
}


/** Locals (v128 unless noted) that the four-lane versions use. */
export interface LaneLocals {
  /** Input lanes, float32x4; read only. */
  x: number;
  /** Result lanes, float32x4. */
  out: number;
  t1: number;
  t2: number;
  t3: number;
  t4: number;
  /** An i32 local. */
  mask: number;
}

/** Recompute the lanes flagged in the i32 local `mask` (bit i: lane i) with the scalar function. */
function scalarLanes(L: LaneLocals, func: number): Code {
  return [get(L.mask), op.if([0, 1, 2, 3].map((lane): Code => [
    get(L.mask), i32(1 << lane), op.i32And, op.if([
      get(L.out), get(L.x), op.f32x4ExtractLane(lane), op.call(func), op.f32x4ReplaceLane(lane), set(L.out),
    ]),
  ]))];
}

/**
 * out = erff(x) on four lanes: the two polynomial branches (2^-28 <= |x| < 1.25) in SIMD,
 * with the same float32 operations per lane; the other lanes (tiny, the exp-based tail,
 * infinities, NaN) through the scalar erff at function index `erff`.
 */
export function erffX4(L: LaneLocals, erff: number): Code {
  const [IX, IN_MAIN, Z, Y] = [L.t1, L.t2, L.t3, L.t4];
  return [
    get(L.x), op.i32x4Const(0x7fffffff), op.v128And, set(IX),
    get(IX), op.i32x4Const(0x3f580000), op.i32x4LtU, set(IN_MAIN),
    get(L.x), get(L.x), op.f32x4Mul, set(Z),
    get(L.x), get(L.x), horner(Z, PP, X4), horner(Z, QQ, X4), op.f32x4Div, op.f32x4Mul, op.f32x4Add, set(L.out),
    // 0.84375 <= |x| < 1.25: 1 - ((1 - erx) - P/Q), given x's sign.
    get(IN_MAIN), op.i32x4AllTrue, op.i32Eqz, op.if([
      get(L.x), op.f32x4Abs, op.f32x4Const(1), op.f32x4Sub, set(Z),
      op.f32x4Const(1), op.f32x4Const(C(1 - ERX)), horner(Z, PA, X4), horner(Z, QA, X4), op.f32x4Div, op.f32x4Sub, op.f32x4Sub,
      get(L.x), op.i32x4Const(0x80000000 | 0), op.v128And, op.v128Or, set(Y),
      get(L.out), get(Y), get(IN_MAIN), op.v128Bitselect, set(L.out),
    ]),
    get(IX), op.i32x4Const(0x31800000), op.i32x4LtU, get(IX), op.i32x4Const(0x3fa00000), op.i32x4GeU, op.v128Or, op.i32x4Bitmask, set(L.mask),
    scalarLanes(L, erff),
  ];
}

/**
 * out = expf(x) on four lanes, two at a time in float64x2 with the same double operations
 * per lane and the table read lane by lane; lanes with |x| >= 88 or NaN through the scalar
 * expf at function index `expf`, whose table is at byte `table`.
 */
export function expfX4(L: LaneLocals, expf: number, table: number): Code {
  const [Z, KD, KI, HALF] = [L.t1, L.t2, L.t3, L.t4];
  const tableAt = (lane: number): Code => [get(KI), op.i64x2ExtractLane(lane), op.i32WrapI64, i32(N - 1), op.i32And, i32(3), op.i32Shl, op.i64Load(table)];
  const half = (lanes: Code): Code => [
    lanes, op.f64x2PromoteLowF32x4, op.f64x2Const(INV_LN2_N), op.f64x2Mul, set(Z),
    get(Z), op.f64x2Const(SHIFT), op.f64x2Add, set(KI),
    get(KI), op.f64x2Const(SHIFT), op.f64x2Sub, set(KD),
    get(Z), get(KD), op.f64x2Sub, set(Z),
    // z is now r; KD becomes s = asdouble(tab[k % N] + (k << 47)).
    tableAt(0), op.i64x2Splat, tableAt(1), op.i64x2ReplaceLane(1), get(KI), i32(47), op.i64x2Shl, op.i64x2Add, set(KD),
    get(Z), op.f64x2Const(POLY[0] as number), op.f64x2Mul, op.f64x2Const(POLY[1] as number), op.f64x2Add,
    get(Z), get(Z), op.f64x2Mul, op.f64x2Mul,
    get(Z), op.f64x2Const(POLY[2] as number), op.f64x2Mul, op.f64x2Const(1), op.f64x2Add,
    op.f64x2Add, get(KD), op.f64x2Mul, op.f32x4DemoteF64x2Zero,
  ];
  const bytes = (from: number): number[] => Array.from({ length: 8 }, (_, i) => from + i);
  return [
    half(get(L.x)), set(HALF),
    half([get(L.x), get(L.x), op.i8x16Shuffle([...bytes(8), ...bytes(0)])]),
    set(Z), get(HALF), get(Z), op.i8x16Shuffle([...bytes(0), ...bytes(16)]), set(L.out),
    get(L.x), op.i32x4Const(0x7fffffff), op.v128And, op.i32x4Const(0x42b00000), op.i32x4GeU, op.i32x4Bitmask, set(L.mask),
    scalarLanes(L, expf),
  ];
}
