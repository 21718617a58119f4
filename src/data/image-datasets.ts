import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { stream } from '../util/rng.js';
import type { LabelledExamples, TaskData } from './dataset.js';

/** What is known about an image dataset before its files are read. */
export interface ImageDatasetInfo {
  name: string;
  channels: number;
  height: number;
  width: number;
  numClasses: number;
  classNames: string[];
}

interface ImageDatasetSpec extends ImageDatasetInfo {
  /** npm package holding one JSON file per class, `<dir>/<class id>.json`. */
  packageName: string;
  dir: string;
  /** Share of each class that goes to validation. */
  validationFraction: number;
  /** One class file's JSON to that class's images, flat [count*784], scaled to [0,1]. */
  decode(json: unknown, file: string): Float32Array;
}

const PIXELS = 28 * 28;

/**
 * The split seed is fixed, not the scenario's: the train/validation split is a property of the
 * dataset, so runs with different scenario seeds still evaluate on the same images.
 */
const SPLIT_SEED = 0x5eed;

function jsonData(json: unknown, file: string): unknown[] {
  const data = (json as { data?: unknown }).data;
  if (!Array.isArray(data)) throw new Error(`${file}: expected {data: [...]}`);
  return data;
}

/** `mnist` stores a class as one flat array of 784*n floats already in [0,1]. */
function decodeMnist(json: unknown, file: string): Float32Array {
  const data = jsonData(json, file) as number[];
  if (data.length % PIXELS !== 0) throw new Error(`${file}: length ${data.length} is not a multiple of ${PIXELS}`);
  return Float32Array.from(data);
}

/**
 * `fashion-mnist` stores a class as an array of 784-long rows of bytes. Class 0's file also holds
 * two empty rows (at 1000 and 7001), not images; skipping rows of the wrong length drops them and
 * leaves the canonical 7,000 images per class.
 */
function decodeFashionMnist(json: unknown, file: string): Float32Array {
  const rows = (jsonData(json, file) as number[][]).filter((row) => row.length === PIXELS);
  const out = new Float32Array(rows.length * PIXELS);
  rows.forEach((row, r) => {
    for (let p = 0; p < PIXELS; p++) out[r * PIXELS + p] = (row[p] as number) / 255;
  });
  return out;
}

const DIGITS = Array.from({ length: 10 }, (_, i) => String(i));

const SPECS = {
  mnist: {
    name: 'mnist',
    channels: 1,
    height: 28,
    width: 28,
    numClasses: 10,
    classNames: DIGITS,
    packageName: 'mnist',
    dir: 'src/digits',
    validationFraction: 0.2,
    decode: decodeMnist,
  },
  // 1/7 of each class gives the usual 60,000 / 10,000 split of the 70,000 images.
  'fashion-mnist': {
    name: 'fashion-mnist',
    channels: 1,
    height: 28,
    width: 28,
    numClasses: 10,
    classNames: ['T-shirt/top', 'Trouser', 'Pullover', 'Dress', 'Coat', 'Sandal', 'Shirt', 'Sneaker', 'Bag', 'Ankle boot'],
    packageName: 'fashion-mnist',
    dir: 'src/clothes',
    validationFraction: 1 / 7,
    decode: decodeFashionMnist,
  },
} satisfies Record<string, ImageDatasetSpec>;

export type ImageDatasetName = keyof typeof SPECS;

export function imageDatasetInfo(name: ImageDatasetName): ImageDatasetInfo {
  const { channels, height, width, numClasses, classNames } = SPECS[name];
  return { name, channels, height, width, numClasses, classNames: [...classNames] };
}

/** Each class's images in file order. Reads the JSON directly: the packages' index.js draws with Math.random. */
function readClasses(spec: ImageDatasetSpec): Float32Array[] {
  const require = createRequire(import.meta.url);
  const root = dirname(require.resolve(`${spec.packageName}/package.json`));
  return Array.from({ length: spec.numClasses }, (_, c) => {
    const file = join(root, spec.dir, `${c}.json`);
    return spec.decode(JSON.parse(readFileSync(file, 'utf8')), file);
  });
}

/**
 * Interleaves per-class lists so that every prefix is class-balanced: the k-th of a class's m
 * members gets the key (k + u)/m with u uniform in [0,1), and members are sorted by key. Each
 * class then has exactly one key in every [k/m, (k+1)/m), so a prefix of length L holds
 * L*m/total members of the class, give or take one.
 */
function interleave(byClass: number[][], purpose: string): Array<[number, number]> {
  const rng = stream(SPLIT_SEED, purpose);
  const keyed: Array<{ key: number; cls: number; row: number }> = [];
  byClass.forEach((rows, cls) => {
    rows.forEach((row, k) => keyed.push({ key: (k + rng.next()) / rows.length, cls, row }));
  });
  keyed.sort((a, b) => a.key - b.key || a.cls - b.cls);
  return keyed.map(({ cls, row }) => [cls, row]);
}

function gather(spec: ImageDatasetSpec, classes: Float32Array[], order: Array<[number, number]>): LabelledExamples {
  const features = new Float32Array(order.length * PIXELS);
  const labels = new Int32Array(order.length);
  order.forEach(([cls, row], i) => {
    features.set((classes[cls] as Float32Array).subarray(row * PIXELS, (row + 1) * PIXELS), i * PIXELS);
    labels[i] = cls;
  });
  const { name, channels, height, width, numClasses, classNames } = spec;
  return {
    name,
    features,
    featureSize: PIXELS,
    labels,
    n: order.length,
    input: { kind: 'image', channels, height, width },
    numClasses,
    classNames: [...classNames],
  };
}

/**
 * Reads a dataset and splits it, without the cache. The split, deterministic and independent of
 * any scenario:
 * 1. for each class c, its examples in file order are shuffled with
 *    stream(0x5eed, 'split/<name>', c);
 * 2. the first round(count_c * validationFraction) go to validation, the rest to train
 *    (mnist: 20% of each class, 8,000 / 2,000; fashion-mnist: 1/7, 60,000 / 10,000);
 * 3. each side is interleaved across classes (see interleave) with the stream
 *    stream(0x5eed, 'order/<name>/train' or '.../validation'), so trainLimit and evalLimit
 *    prefixes keep the class proportions.
 */
export function readImageDataset(name: ImageDatasetName): TaskData {
  const spec: ImageDatasetSpec = SPECS[name];
  const classes = readClasses(spec);
  const train: number[][] = [];
  const validation: number[][] = [];
  classes.forEach((images, c) => {
    const count = images.length / PIXELS;
    const rows = stream(SPLIT_SEED, `split/${name}`, c).shuffle(Array.from({ length: count }, (_, i) => i));
    const numValidation = Math.round(count * spec.validationFraction);
    validation.push(rows.slice(0, numValidation));
    train.push(rows.slice(numValidation));
  });
  return {
    train: gather(spec, classes, interleave(train, `order/${name}/train`)),
    validation: gather(spec, classes, interleave(validation, `order/${name}/validation`)),
  };
}

/** Parsed once per process: fashion-mnist is 150 MB of JSON and takes seconds to read. */
const cache = new Map<ImageDatasetName, TaskData>();

/** The split dataset, cached; callers must treat the arrays as read-only. */
export function loadImageDataset(name: ImageDatasetName): TaskData {
  let data = cache.get(name);
  if (!data) {
    data = readImageDataset(name);
    cache.set(name, data);
  }
  return data;
}
