/**
 * A researcher's method module (`method.module` in a scenario): imported by the server and by
 * every client actor from the same file, which must hash the same everywhere.
 */
import { statSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import type { MethodRef } from '../client/method-ref.js';
import { sha256File } from '../model/checkpoint.js';
import type { MethodOptions } from '../scenario/schema.js';
import { isMethodDefinition, type MethodDefinition } from './define.js';
import { BUILTIN_METHOD_NAMES, mustBuiltin } from './registry.js';


/** Thrown for a module that cannot serve as a method module; the loader turns it into a UserError. */
export class MethodModuleError extends Error {}

/** Imports by `path sha256`: a long-lived process (a `fedpft worker`) must run the file's current contents. */
const imported = new Map<string, Promise<readonly MethodDefinition[]>>();

function sha256IfReadable(path: string): string | undefined {
  try {
    return sha256File(path);
  } catch {
    return undefined;
  }
}

/**
 * The definitions a module exports by default (one, or a list); every name must be new.
 * `sha256`: the contents already verified (an actor's task), else the file is hashed. Node caches
 * a module by its URL, so the URL carries the hash: a changed file is imported again (the modules
 * it imports in turn are not).
 */
export function importMethodModule(path: string, sha256 = sha256IfReadable(path)): Promise<readonly MethodDefinition[]> {
  const key = `${path} ${sha256 ?? ''}`;
  let pending = imported.get(key);
  if (!pending) {
    pending = load(path, sha256);
    imported.set(key, pending);
  }
  return pending;
}

async function load(path: string, sha256: string | undefined): Promise<readonly MethodDefinition[]> {
  try {
    if (!statSync(path).isFile()) throw new MethodModuleError(`not a file: ${path}`);
  } catch (err) {
    if (err instanceof MethodModuleError) throw err;
    throw new MethodModuleError(`file not found: ${path}`);
  }
  let mod: { default?: unknown };
  try {
    mod = (await import(`${pathToFileURL(path).href}${sha256 ? `?sha256=${sha256}` : ''}`)) as { default?: unknown };
  } catch (err) {
    throw new MethodModuleError(`cannot import ${path}: ${String((err as Error).message ?? err).split('\n')[0]}`);
  }
  const exported = Array.isArray(mod.default) ? mod.default : [mod.default];
  if (exported.length === 0 || !exported.every(isMethodDefinition)) throw new MethodModuleError(`${path}: expected a default export made by defineMethod({...}) (or a list of them)`);
  const defs = exported as MethodDefinition[];
  for (const d of defs) {
    if (BUILTIN_METHOD_NAMES.includes(d.name)) throw new MethodModuleError(`${path}: method "${d.name}" is a built-in method's name; give yours its own`);
  }
  return defs;
}

/** The definition a validated scenario's method section names: built in, or from its module. */
export async function resolveMethod(options: MethodOptions, moduleSha256?: string): Promise<MethodDefinition> {
  if (options.module === undefined) return mustBuiltin(options);
  const def = (await importMethodModule(options.module, moduleSha256)).find((d) => d.name === options.name);
  if (!def) throw new Error(`${options.module} defines no method "${options.name}"`);
  return def;
}

export function methodRef(options: MethodOptions): MethodRef {
  return options.module === undefined ? { options } : { options, moduleSha256: sha256File(options.module) };
}

/** Modules this process has checked, as `path sha256`: every task names its module, and hashing it each time would repeat work on the task path. */
const checked = new Set<string>();

/** An actor's view: the definition, after checking (once per module) that its copy of a user module is the server's. */
export function resolveRef(ref: MethodRef): Promise<MethodDefinition> {
  const { module } = ref.options;
  if (module !== undefined && ref.moduleSha256 !== undefined && !checked.has(`${module} ${ref.moduleSha256}`)) {
    const here = sha256File(module);
    if (here !== ref.moduleSha256) throw new Error(`method module ${module} differs from the server's (sha256 ${here.slice(0, 12)} here, ${ref.moduleSha256.slice(0, 12)} there)`);
    checked.add(`${module} ${ref.moduleSha256}`);
  }
  return resolveMethod(ref.options, ref.moduleSha256);
}
