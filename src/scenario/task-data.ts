import type { TaskData } from '../data/dataset.js';
import { isTextTask } from '../data/names.js';
import { loadTask } from '../data/registry.js';
import { loadTokenizer } from '../model/encoder.js';
import type { TextEncoding } from '../text/encode-set.js';
import type { Scenario } from './schema.js';

/** How the scenario's FM reads text (its tokenizer, task.maxLength); undefined for image tasks. */
export function scenarioTextEncoding(scenario: Scenario): TextEncoding | undefined {
  if (!isTextTask(scenario.task.dataset)) return undefined;
  return { tokenizer: loadTokenizer(scenario.model.dir), maxLength: scenario.task.maxLength };
}

/** The scenario's task data, with text tokenized for its FM. */
export function loadScenarioTask(scenario: Scenario, text = scenarioTextEncoding(scenario)): TaskData {
  const { dataset, trainLimit, evalLimit, files } = scenario.task;
  return loadTask(dataset, { trainLimit, evalLimit, text, files });
}
