import type { Command } from 'commander';

export function registerSchema(program: Command): void {
  program
    .command('schema')
    .description("print the scenario files' JSON Schema (for editors), with the methods of any --method-module")
    .option('--method-module <file...>', "a user method module (a scenario's method.module) whose methods the schema also accepts")
    .action(async (opts: { methodModule?: string[] }) => {
      const { resolve } = await import('node:path');
      const { importMethodModule, MethodModuleError } = await import('../methods/user-module.js');
      const { scenarioJsonSchema } = await import('../methods/method-schema.js');
      const { UserError } = await import('../util/errors.js');
      const user = [];
      for (const file of opts.methodModule ?? []) {
        try {
          user.push(...(await importMethodModule(resolve(file))));
        } catch (err) {
          if (err instanceof MethodModuleError) throw new UserError('--method-module', '', err.message);
          throw err;
        }
      }
      console.log(JSON.stringify(scenarioJsonSchema(user), null, 2));
    });
}
