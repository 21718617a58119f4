/**
 * OpenBLAS's sgemm for the `fast` kernel set, called through koffi (a maintained FFI package with
 * prebuilt binaries) on operands in place in tfjs's wasm heap. One BLAS thread per actor: the
 * actors are the parallelism. OPENBLAS_CORETYPE is pinned to Haswell on CPUs with AVX2 and FMA,
 * so that every such machine runs the same kernel and gets the same bits.
 */
import { readFileSync } from 'node:fs';
import { isMainThread } from 'node:worker_threads';
import koffi from 'koffi';

export type Sgemm = (transA: boolean, transB: boolean, m: number, n: number, k: number, a: Float32Array, lda: number, b: Float32Array, ldb: number, c: Float32Array, ldc: number) => void;

export interface OpenBlas {
  sgemm: Sgemm;
  /** OpenBLAS's own description: version, build options and the core its kernels are for. */
  config: string;
  /** What decides the fast set's bits: OpenBLAS's version and the core its kernels run (e.g. "OpenBLAS 0.3.21, Haswell core"). */
  kernels: string;
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

/**
 * Sets a variable where OpenBLAS reads it, the C environment. A worker thread's process.env is
 * its own copy, invisible to native code (Node's worker_threads docs). On the main thread
 * process.env writes through; a thread spawned after that inherits the value and needs nothing.
 * Only a thread that loads OpenBLAS first without it calls libc's setenv.
 */
function setNativeEnv(name: string, value: string): void {
  if (!isMainThread && process.env[name] !== value) {
    let setenv: (name: string, value: string, overwrite: number) => number;
    try {
      setenv = koffi.load('libc.so.6').func('int setenv(const char *name, const char *value, int overwrite)') as typeof setenv;
    } catch (err) {
      throw new Error(`cannot set ${name} for OpenBLAS from this worker thread (libc.so.6: ${(err as Error).message.split('\n')[0]}); set ${name}=${value} before starting fedpft`);
    }
    setenv(name, value, 1);
  }
  process.env[name] = value;
}

/**
 * Fixes what OpenBLAS reads when it loads: one thread (the actors are the parallelism) and, on
 * CPUs with AVX2 and FMA, the Haswell kernels, so every such machine gets the same bits. Called
 * by a process's main thread before it starts actor threads, and by openBlas. Returns the core.
 */
export function pinOpenBlasEnvironment(): string | undefined {
  const core = process.env['OPENBLAS_CORETYPE'] || (cpuHasAvx2Fma() ? 'Haswell' : undefined);
  setNativeEnv('OPENBLAS_NUM_THREADS', '1');
  if (core) setNativeEnv('OPENBLAS_CORETYPE', core);
  return core;
}

/** OpenBLAS, loaded once per thread (the library once per process); a one-line reason when it cannot be. */
export function openBlas(): OpenBlas | string {
  if (loaded !== undefined) return loaded;
  const library = process.env[OPENBLAS_ENV] || 'libopenblas.so.0';
  let core: string | undefined;
  try {
    core = pinOpenBlasEnvironment();
  } catch (err) {
    loaded = (err as Error).message;
    return loaded;
  }
  try {
    const lib = koffi.load(library);
    // Also after loading: a library some other code loaded first kept its own thread count.
    lib.func('void openblas_set_num_threads(int n)')(1);
    const cblasSgemm = lib.func('void cblas_sgemm(int order, int transA, int transB, int m, int n, int k, float alpha, float *a, int lda, float *b, int ldb, float beta, float *c, int ldc)');
    const getConfig = lib.func('const char *openblas_get_config()');
    const getCore = lib.func('const char *openblas_get_corename()');
    const ROW_MAJOR = 101;
    const NO_TRANS = 111;
    const TRANS = 112;
    const sgemm: Sgemm = (transA, transB, m, n, k, a, lda, b, ldb, c, ldc) => {
      cblasSgemm(ROW_MAJOR, transA ? TRANS : NO_TRANS, transB ? TRANS : NO_TRANS, m, n, k, 1, a, lda, b, ldb, 0, c, ldc);
    };
    const ran = getCore() as string;
    // A core other than the pinned one gives other bits: never run it under the same set's name.
    if (core && ran.toLowerCase() !== core.toLowerCase()) throw new Error(`its kernels are for ${ran}, not the pinned ${core} (loaded before OPENBLAS_CORETYPE was set?)`);
    const config = getConfig() as string;
    loaded = { sgemm, config: `${config} core ${ran}`, kernels: `${config.split(' ').slice(0, 2).join(' ')}, ${ran} core`, library };
  } catch (err) {
    loaded = `${library}: ${(err instanceof Error ? err.message : String(err)).split('\n')[0]} (${OPENBLAS_INSTALL})`;
  }
  return loaded;
}
