/**
 * The backends a scenario, recipe or command may ask for, in one list: the schema, the recipes
 * and every command's --backend derive from it. Kept apart from backend.ts, which loads tfjs.
 */
export const BACKEND_CHOICES = ['auto', 'tensorflow', 'webgpu', 'wasm', 'cpu'] as const;

export type BackendChoice = (typeof BACKEND_CHOICES)[number];

/**
 * Kernel sets: `exact` keeps the stock tfjs kernels' float results bit for bit; `fast` computes
 * wasm's float32 matrix products with OpenBLAS (other bits, same results on every worker count,
 * host and resume). A run records its set.
 */
export const KERNEL_SETS = ['exact', 'fast'] as const;

export type KernelSet = (typeof KERNEL_SETS)[number];

/**
 * What a scenario or command may ask for: a set, or `auto`, the fastest this process can run
 * (fast on wasm where OpenBLAS loads, else exact). `auto` is resolved once, by the server, and a
 * run records the set it resolved to.
 */
export const KERNEL_CHOICES = ['auto', ...KERNEL_SETS] as const;

export type KernelChoice = (typeof KERNEL_CHOICES)[number];

export function isKernelChoice(value: string): value is KernelChoice {
  return (KERNEL_CHOICES as readonly string[]).includes(value);
}

/**
 * The explicit choice that loads a backend that ran (its BackendInfo.name): what actors are told,
 * so that `auto` is resolved once, by the server, and never differently in an actor.
 */
export function choiceOf(name: string): BackendChoice {
  if (name.startsWith('tensorflow')) return 'tensorflow';
  if (name.startsWith('wasm')) return 'wasm';
  if (name === 'webgpu' || name === 'cpu') return name;
  throw new Error(`no backend choice loads "${name}"`);
}

export function isBackendChoice(value: string): value is BackendChoice {
  return (BACKEND_CHOICES as readonly string[]).includes(value);
}
