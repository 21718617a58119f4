import type { Command } from 'commander';
import { DEFAULT_SCENARIO } from './options.js';

export function registerPartition(program: Command): void {
  program
    .command('partition')
    .description("print each client's label counts for a scenario's partition")
    .argument('[scenario]', 'scenario YAML file', DEFAULT_SCENARIO)
    .option('--json', 'print JSON instead of a table')
    .action(async (file: string, opts: { json?: boolean }) => {
        const { loadScenario } = await import('../scenario/load.js');
        const { loadTrainLabels } = await import('../data/registry.js');
        const { partition } = await import('../data/partition.js');
        const { formatPartitionTable, partitionJson } = await import('../data/partition-table.js');
        const scenario = await loadScenario(file);
        const train = loadTrainLabels(scenario.task.dataset, { trainLimit: scenario.task.trainLimit, files: scenario.task.files });
        const p = partition(train.labels, train.numClasses, scenario.federation.clients, scenario.partition, scenario.seed);
        console.log(opts.json ? JSON.stringify(partitionJson(p, train.labels, train.classNames), null, 2) : formatPartitionTable(p, train.labels, train.classNames));
      });
}
