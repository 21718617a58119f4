/**
 * The backends a scenario, recipe or command may ask for, in one list: the schema, the recipes
 * and every command's --backend derive from it. Kept apart from backend.ts, which loads tfjs.
 */
export const BACKEND_CHOICES = ['auto', 'tensorflow', 'webgpu', 'wasm', 'cpu'] as const;

export type BackendChoice = (typeof BACKEND_CHOICES)[number];

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
