import type { Command } from 'commander';
import { DEFAULT_SCENARIO } from './options.js';
import { UserError } from '../util/errors.js';

export function registerBaseline(program: Command): void {
  program
    .command('baseline')
    .description("a text scenario's sanity baseline: multinomial naive Bayes over the bags of the FM's tokens, trained on the whole training split, scored on the validation split the runs are scored on")
    .argument('[scenario]', 'scenario YAML file', DEFAULT_SCENARIO)
    .option('--json', 'print JSON')
    .action(async (file: string, opts: { json?: boolean }) => {
      const { loadScenario } = await import('../scenario/load.js');
      const { isTextTask } = await import('../data/names.js');
      const { loadScenarioTask } = await import('../scenario/task-data.js');
      const { naiveBayes } = await import('../baselines/naive-bayes.js');
      const scenario = await loadScenario(file);
      if (!isTextTask(scenario.task.dataset)) throw new UserError(file, 'task.dataset', `the naive Bayes baseline reads text; ${scenario.task.dataset} is an image task`);
      const { train, validation } = loadScenarioTask(scenario);
      const r = naiveBayes(train, validation);
      const out = { dataset: scenario.task.dataset, train: train.n, validation: validation.n, maxLength: scenario.task.maxLength, accuracy: r.accuracy, majority: r.majority };
      if (opts.json) console.log(JSON.stringify(out));
      else console.log(`${scenario.task.dataset}: naive Bayes (bags of the FM's tokens, first ${scenario.task.maxLength}) ${(100 * r.accuracy).toFixed(2)} % on ${validation.n} validation examples, trained on ${train.n}; the majority class scores ${(100 * r.majority).toFixed(2)} %`);
    });
}
