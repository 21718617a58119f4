/**
 * Loaders for datasets the user has on disk (none can be downloaded here): GLUE task TSVs and the
 * CIFAR-10/100 binary version.
 */
import { readFileSync } from 'node:fs';
import type { LabelledExamples, LabelledTexts } from '../data/dataset.js';
import { UserError } from '../util/errors.js';

function readOrFail(file: string): Buffer {
  try {
    return readFileSync(file);
  } catch (err) {
    throw new UserError(file, '', `cannot read the file (${(err as NodeJS.ErrnoException).code ?? String(err)})`);
  }
}

// ---------------------------------------------------------------------------------------------
// GLUE

interface GlueSpec {
  /** First-segment column, optional second-segment column, label column (names in the header). */
  text: string;
  pair?: string;
  label: string;
  /** Label strings as written in the file, in class-id order (the order HF `datasets` glue uses). */
  labelValues: string[];
  classNames: string[];
}

const GLUE: Record<string, GlueSpec> = {
  sst2: { text: 'sentence', label: 'label', labelValues: ['0', '1'], classNames: ['negative', 'positive'] },
  qnli: {
    text: 'question',
    pair: 'sentence',
    label: 'label',
    labelValues: ['entailment', 'not_entailment'],
    classNames: ['entailment', 'not_entailment'],
  },
  mnli: {
    text: 'sentence1',
    pair: 'sentence2',
    label: 'gold_label',
    labelValues: ['entailment', 'neutral', 'contradiction'],
    classNames: ['entailment', 'neutral', 'contradiction'],
  },
  qqp: { text: 'question1', pair: 'question2', label: 'is_duplicate', labelValues: ['0', '1'], classNames: ['not_duplicate', 'duplicate'] },
};

export const GLUE_TASKS = ['sst2', 'qnli', 'mnli', 'qqp'] as const;
export type GlueTask = (typeof GLUE_TASKS)[number];

/**
 * A labelled GLUE split as distributed in GLUE's TSV files (train.tsv, dev.tsv; dev_matched.tsv for
 * MNLI): tab-separated, first line a header, no quoting (as GLUE's own readers use). Columns are
 * found by header name, extra columns are ignored:
 * - sst2: sentence, label (0 negative, 1 positive);
 * - qnli: question, sentence, label (entailment 0, not_entailment 1);
 * - mnli: sentence1, sentence2, gold_label (entailment 0, neutral 1, contradiction 2); rows whose
 *   gold_label is "-" (no annotator majority) are skipped;
 * - qqp: question1, question2, is_duplicate (0, 1).
 * Test files (no label column) are refused: the header check names the missing columns.
 */
export function loadGlueTsv(file: string, task: GlueTask): LabelledTexts {
  const spec = GLUE[task];
  if (!spec) throw new UserError(file, 'task', `unknown GLUE task "${String(task)}"; expected one of ${GLUE_TASKS.join(', ')}`);
  const lines = readOrFail(file).toString('utf8').replace(/^\uFEFF/, '').split(/\r?\n/);
  while (lines.length > 0 && lines[lines.length - 1] === '') lines.pop();
  const header = (lines[0] ?? '').split('\t');
  const wanted = [spec.text, ...(spec.pair ? [spec.pair] : []), spec.label];
  const columns = wanted.map((c) => header.indexOf(c));
  if (columns.some((c) => c < 0)) {
    throw new UserError(
      file,
      'header',
      `GLUE ${task} expects tab-separated columns ${wanted.join(', ')}; the header has ${header.map((h) => JSON.stringify(h)).join(', ')}`,
    );
  }
  const [textCol, pairCol, labelCol] = spec.pair ? (columns as [number, number, number]) : [columns[0] as number, -1, columns[1] as number];
  const needed = Math.max(...columns) + 1;
  const texts: string[] = [];
  const pairs: string[] = [];
  const labels: number[] = [];
  for (let i = 1; i < lines.length; i++) {
    const fields = (lines[i] as string).split('\t');
    if (fields.length < needed) {
      throw new UserError(file, `line ${i + 1}`, `expected at least ${needed} tab-separated fields, got ${fields.length}`);
    }
    const value = (fields[labelCol] as string).trim();
    if (task === 'mnli' && value === '-') continue;
    const label = spec.labelValues.indexOf(value);
    if (label < 0) {
      throw new UserError(file, `line ${i + 1}`, `${spec.label} must be one of ${spec.labelValues.join(', ')}; got ${JSON.stringify(value)}`);
    }
    texts.push(fields[textCol] as string);
    if (spec.pair) pairs.push(fields[pairCol] as string);
    labels.push(label);
  }
  return {
    name: `glue-${task}`,
    texts,
    ...(spec.pair ? { pairs } : {}),
    labels: Int32Array.from(labels),
    numClasses: spec.classNames.length,
    classNames: [...spec.classNames],
  };
}

// ---------------------------------------------------------------------------------------------
// CIFAR

export const CIFAR10_CLASSES = ['airplane', 'automobile', 'bird', 'cat', 'deer', 'dog', 'frog', 'horse', 'ship', 'truck'];

/** fine_label_names.txt of the CIFAR-100 binary version, in label order. */
export const CIFAR100_CLASSES = (
  'apple aquarium_fish baby bear beaver bed bee beetle bicycle bottle bowl boy bridge bus butterfly camel can castle ' +
  'caterpillar cattle chair chimpanzee clock cloud cockroach couch crab crocodile cup dinosaur dolphin elephant flatfish ' +
  'forest fox girl hamster house kangaroo keyboard lamp lawn_mower leopard lion lizard lobster man maple_tree motorcycle ' +
  'mountain mouse mushroom oak_tree orange orchid otter palm_tree pear pickup_truck pine_tree plain plate poppy porcupine ' +
  'possum rabbit raccoon ray road rocket rose sea seal shark shrew skunk skyscraper snail snake spider squirrel streetcar ' +
  'sunflower sweet_pepper table tank telephone television tiger tractor train trout tulip turtle wardrobe whale ' +
  'willow_tree wolf woman worm'
).split(' ');

/** coarse_label_names.txt of the CIFAR-100 binary version, in label order. */
export const CIFAR100_COARSE_CLASSES = (
  'aquatic_mammals fish flowers food_containers fruit_and_vegetables household_electrical_devices household_furniture ' +
  'insects large_carnivores large_man-made_outdoor_things large_natural_outdoor_scenes large_omnivores_and_herbivores ' +
  'medium_mammals non-insect_invertebrates people reptiles small_mammals trees vehicles_1 vehicles_2'
).split(' ');

export type CifarVariant = 'cifar10' | 'cifar100';

/** CIFAR images; for CIFAR-100, `labels` are the fine labels and the coarse ones come alongside. */
export interface CifarImages extends LabelledExamples {
  input: { kind: 'image'; channels: number; height: number; width: number };
  coarseLabels?: Int32Array;
  coarseClassNames?: string[];
}

const PIXELS = 3 * 32 * 32;

/**
 * One file of the CIFAR binary version (data_batch_*.bin, test_batch.bin; train.bin, test.bin):
 * records of 1 label byte (CIFAR-10) or 2 (CIFAR-100: coarse, then fine) followed by 3,072 pixel
 * bytes, the red, green and blue 32x32 planes row-major, which is NCHW already. Pixels are scaled
 * to [0,1].
 */
export function loadCifarBinary(file: string, variant: CifarVariant): CifarImages {
  if (variant !== 'cifar10' && variant !== 'cifar100') {
    throw new UserError(file, 'variant', `expected cifar10 or cifar100, got ${JSON.stringify(variant)}`);
  }
  const labelBytes = variant === 'cifar10' ? 1 : 2;
  const record = labelBytes + PIXELS;
  const bytes = readOrFail(file);
  if (bytes.length === 0 || bytes.length % record !== 0) {
    throw new UserError(
      file,
      'size',
      `${variant} records are ${labelBytes} label byte${labelBytes > 1 ? 's' : ''} + ${PIXELS} pixel bytes = ${record} bytes; ` +
        `the file's ${bytes.length} bytes are not a positive multiple of ${record} (truncated or not ${variant}?)`,
    );
  }
  const n = bytes.length / record;
  const classNames = variant === 'cifar10' ? CIFAR10_CLASSES : CIFAR100_CLASSES;
  const features = new Float32Array(n * PIXELS);
  const labels = new Int32Array(n);
  const coarse = variant === 'cifar100' ? new Int32Array(n) : undefined;
  for (let i = 0; i < n; i++) {
    const at = i * record;
    const label = bytes[at + labelBytes - 1] as number;
    if (label >= classNames.length) {
      throw new UserError(file, `record ${i}`, `label ${label} is out of range [0, ${classNames.length})`);
    }
    labels[i] = label;
    if (coarse) {
      const c = bytes[at] as number;
      if (c >= CIFAR100_COARSE_CLASSES.length) {
        throw new UserError(file, `record ${i}`, `coarse label ${c} is out of range [0, ${CIFAR100_COARSE_CLASSES.length})`);
      }
      coarse[i] = c;
    }
    for (let p = 0; p < PIXELS; p++) features[i * PIXELS + p] = (bytes[at + labelBytes + p] as number) / 255;
  }
  return {
    name: variant,
    features,
    featureSize: PIXELS,
    labels,
    n,
    input: { kind: 'image', channels: 3, height: 32, width: 32 },
    numClasses: classNames.length,
    classNames: [...classNames],
    ...(coarse ? { coarseLabels: coarse, coarseClassNames: [...CIFAR100_COARSE_CLASSES] } : {}),
  };
}
