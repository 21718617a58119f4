/**
 * The one registration of the built-in methods. The scenario schema, the ablation defaults, the
 * report's method order and the docs all read this list; user methods come from their modules
 * (src/methods/user-module.ts) and are checked against it.
 */
import type { MethodDefinition, MethodOptions } from './define.js';
import type { Method } from './method.js';
import fedot from './fedot.js';
import fedpetuning from './fedpetuning.js';
import fedpftFamily from './fedpft.js';

export const BUILTIN_METHODS: readonly MethodDefinition[] = [fedpetuning, fedot, ...fedpftFamily];

export const BUILTIN_METHOD_NAMES: readonly string[] = BUILTIN_METHODS.map((d) => d.name);

export function builtinMethod(name: string): MethodDefinition | undefined {
  return BUILTIN_METHODS.find((d) => d.name === name);
}

/** The built-in definition a validated scenario names; user methods resolve through their module. */
export function mustBuiltin(options: MethodOptions): MethodDefinition {
  const def = builtinMethod(options.name);
  if (!def) throw new Error(`no built-in method "${options.name}" (built-in: ${BUILTIN_METHOD_NAMES.join(', ')})`);
  return def;
}

/** A built-in method's server half for a validated scenario's method section. */
export function createMethod(options: MethodOptions): Method {
  return mustBuiltin(options).server(options);
}
