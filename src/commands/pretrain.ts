import type { Command } from 'commander';
import { positiveInt } from './options.js';

export function registerPretrain(program: Command): void {
  program
    .command('pretrain')
    .description('train a foundation model from a recipe (resumable: run it again to continue)')
    .argument('<recipe>', 'recipe JSON file, e.g. models/recipes/vit-fmnist.json')
    .option('--stop-after <steps>', 'checkpoint and stop after this many steps (to split a long run)', positiveInt('--stop-after'))
    .action(async (recipe: string, opts: { stopAfter?: number }) => {
      const { pretrain } = await import('../pretrain/pretrain.js');
      const result = await pretrain(recipe, { stopAfterSteps: opts.stopAfter });
      console.log(result.done ? `done: sha256 ${result.sha256}` : `stopped at step ${result.step}/${result.totalSteps}; run again to continue`);
    });
}
