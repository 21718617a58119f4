/** The scenario schema for a set of method definitions: the built-in ones plus any user module's. */
import { z } from 'zod';
import { mapping, unionError } from '../scenario/fields.js';
import { isWorkersSchema, scenarioSchemaFor } from '../scenario/schema.js';
import type { MethodDefinition } from './define.js';
import { BUILTIN_METHODS } from './registry.js';

function methodSection(def: MethodDefinition, fromModule: boolean) {
  const moduleField = z.string({ error: 'expected a file path' }).min(1, { error: 'expected a file path' }).describe('the JavaScript module whose default export defines this method, relative to the scenario file');
  return mapping({ name: z.literal(def.name), ...(fromModule ? { module: moduleField } : {}), ...def.options }).describe(def.description);
}

function build(user: readonly MethodDefinition[]) {
  const sections = [...BUILTIN_METHODS.map((d) => methodSection(d, false)), ...user.map((d) => methodSection(d, true))];
  return scenarioSchemaFor(z.discriminatedUnion('name', sections as [ReturnType<typeof methodSection>, ...ReturnType<typeof methodSection>[]], { error: unionError }));
}

let builtinOnly: ReturnType<typeof build> | null = null;
/** By a module's list of definitions, which its import cache keeps (a sweep parses once per grid point). */
const withUser = new WeakMap<readonly MethodDefinition[], ReturnType<typeof build>>();

/** The schema a scenario is validated with; `user`: the definitions of its `method.module`. */
export function scenarioSchemaWith(user: readonly MethodDefinition[] = []): ReturnType<typeof build> {
  if (user.length > 0) {
    let schema = withUser.get(user);
    if (!schema) {
      schema = build(user);
      withUser.set(user, schema);
    }
    return schema;
  }
  builtinOnly ??= build([]);
  return builtinOnly;
}

/** JSON Schema of the file as written (input side: defaults are optional), for editors; `user` adds a module's methods. */
export function scenarioJsonSchema(user: readonly MethodDefinition[] = []): object {
  return z.toJSONSchema(scenarioSchemaWith(user), {
    target: 'draft-2020-12',
    io: 'input',
    override: (ctx) => {
      if (isWorkersSchema(ctx.zodSchema)) delete ctx.jsonSchema.default;
    },
  });
}
