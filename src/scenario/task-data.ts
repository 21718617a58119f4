import { examplesHash, type LabelledExamples, type TaskData } from '../data/dataset.js';
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

/**
 * What a client actor outside the server's process needs to load the training set itself: the
 * scenario's task (the shipped datasets, or the user's files by the same path) and the FM's
 * directory, whose tokenizer encodes text.
 */
export interface TrainingSource {
  task: Scenario['task'];
  modelDir: string;
}

export function trainingSource(scenario: Scenario): TrainingSource {
  return { task: scenario.task, modelDir: scenario.model.dir };
}

/** The training split a source names, encoded as the server encodes it. */
export function loadTrainingSet(source: TrainingSource): LabelledExamples {
  const { dataset, trainLimit, files, maxLength } = source.task;
  const text = isTextTask(dataset) ? { tokenizer: loadTokenizer(source.modelDir), maxLength } : undefined;
  return loadTask(dataset, { trainLimit, evalLimit: 1, text, files }).train;
}

/**
 * The training split a source names, loaded by an actor outside the server's process; it must
 * hash as the server's did, or training on it would silently differ.
 */
export function loadCheckedTrainingSet(source: TrainingSource, sha256: string): LabelledExamples {
  const set = loadTrainingSet(source);
  const here = examplesHash(set);
  if (here !== sha256) throw new Error(`${describeSource(source)}: the training set here (sha256 ${here.slice(0, 12)}) differs from the server's (${sha256.slice(0, 12)})`);
  return set;
}

/** The files (or the shipped dataset) a source reads, for a one-line message about them. */
export function describeSource(source: TrainingSource): string {
  const { dataset, files } = source.task;
  if (files) return `task.files.train ${[files.train].flat().join(', ')}`;
  return isTextTask(dataset) ? `the shipped ${dataset} dataset tokenized by ${source.modelDir}` : `the shipped ${dataset} dataset`;
}
