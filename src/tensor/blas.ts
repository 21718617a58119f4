/**
 * OpenBLAS's sgemm for the `fast` kernel set, called through koffi (a maintained FFI package with
 * prebuilt binaries) on operands in place in tfjs's wasm heap. One BLAS thread per actor: the
 * actors are the parallelism. OPENBLAS_CORETYPE is pinned to Haswell on CPUs with AVX2 and FMA,
 * so that every such machine runs the same kernel and gets the same bits.
 */
import { readFileSync } from 'node:fs';
import koffi from 'koffi';

export type Sgemm = (transA: boolean, transB: boolean, m: number, n: number, k: number, a: Float32Array, lda: number, b: Float32Array, ldb: number, c: Float32Array, ldc: number) => void;

export interface OpenBlas {
  sgemm: Sgemm;
  /** OpenBLAS's own description: version, build options and the core its kernels are for. */
  config: string;
  library: string;
}

/** The library loaded: FEDPFT_OPENBLAS (a path or a soname) or Debian's libopenblas.so.0. */
export const OPENBLAS_ENV = 'FEDPFT_OPENBLAS';
export const OPENBLAS_INSTALL = "install Debian's libopenblas0-pthread";

let loaded: OpenBlas | string | undefined;

function cpuHasAvx2Fma(): boolean {
  try {
    const flags = readFileSync('/proc/cpuinfo', 'utf8').match(/^flags\s*:(.*)$/m)?.[1] ?? '';
    return / avx2( |$)/.test(flags) && / fma( |$)/.test(flags);
  } catch {
    return false;
  }
}

/** OpenBLAS, loaded once per process; a one-line reason when it cannot be. */
export function openBlas(): OpenBlas | string {
  if (loaded !== undefined) return loaded;
  const library = process.env[OPENBLAS_ENV] || 'libopenblas.so.0';
  // Read by OpenBLAS when it loads: one thread, and one kernel for every AVX2 machine.
  process.env['OPENBLAS_NUM_THREADS'] = '1';
  if (!process.env['OPENBLAS_CORETYPE'] && cpuHasAvx2Fma()) process.env['OPENBLAS_CORETYPE'] = 'Haswell';
  try {
    const lib = koffi.load(library);
    const cblasSgemm = lib.func('void cblas_sgemm(int order, int transA, int transB, int m, int n, int k, float alpha, float *a, int lda, float *b, int ldb, float beta, float *c, int ldc)');
    const getConfig = lib.func('const char *openblas_get_config()');
    const getCore = lib.func('const char *openblas_get_corename()');
    const ROW_MAJOR = 101;
    const NO_TRANS = 111;
    const TRANS = 112;
    const sgemm: Sgemm = (transA, transB, m, n, k, a, lda, b, ldb, c, ldc) => {
      cblasSgemm(ROW_MAJOR, transA ? TRANS : NO_TRANS, transB ? TRANS : NO_TRANS, m, n, k, 1, a, lda, b, ldb, 0, c, ldc);
    };
    loaded = { sgemm, config: `${getConfig() as string} core ${getCore() as string}`, library };
  } catch (err) {
    loaded = `${library}: ${(err instanceof Error ? err.message : String(err)).split('\n')[0]} (${OPENBLAS_INSTALL})`;
  }
  return loaded;
}
