/**
 * The backends a scenario, recipe or command may ask for, in one list: the schema, the recipes
 * and every command's --backend derive from it. Kept apart from backend.ts, which loads tfjs.
 */
export const BACKEND_CHOICES = ['auto', 'tensorflow', 'wasm', 'cpu'] as const;

export type BackendChoice = (typeof BACKEND_CHOICES)[number];

export function isBackendChoice(value: string): value is BackendChoice {
  return (BACKEND_CHOICES as readonly string[]).includes(value);
}
