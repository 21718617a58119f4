/**
 * `fedpft baseline`: multinomial naive Bayes over the bags of the FM's tokens, checked against
 * the closed form on a hand-made task, and through the CLI on a shipped text task.
 */
import { describe, expect, it } from 'vitest';
import { naiveBayes } from '../src/baselines/naive-bayes.js';
import type { LabelledExamples } from '../src/data/dataset.js';
import { cli } from './helpers/tiny-run.js';

const LENGTH = 4;

/** Texts as token ids (padded with id 0, mask 0), in the features layout [ids | types | mask]. */
function texts(docs: number[][], labels: number[]): LabelledExamples {
  const featureSize = 3 * LENGTH;
  const features = new Float32Array(docs.length * featureSize);
  docs.forEach((d, i) => d.forEach((id, t) => {
    features[i * featureSize + t] = id;
    features[i * featureSize + 2 * LENGTH + t] = 1;
  }));
  return { name: 'hand', features, featureSize, labels: Int32Array.from(labels), n: docs.length, input: { kind: 'tokens', maxLength: LENGTH, padTokenId: 0 }, numClasses: 2, classNames: ['a', 'b'] };
}

describe('naive Bayes baseline', () => {
  it('predicts the class of the larger add-one smoothed posterior, as worked by hand', () => {
    // Class a: tokens 1,1,2 and 1,3 (counts 3,1,1 of 5); class b: 2,2,3 and 3 (counts 0,2,2 of 4).
    // Vocabulary: ids 0..3 (V = 4), alpha = 1, equal priors. P(t|a) = (n+1)/9, P(t|b) = (n+1)/8.
    const train = texts([[1, 1, 2], [1, 3], [2, 2, 3], [3]], [0, 0, 1, 1]);
    const pa = (ids: number[]) => ids.reduce((p, id) => p * ([1, 4, 2, 2][id] as number) / 9, 0.5);
    const pb = (ids: number[]) => ids.reduce((p, id) => p * ([1, 1, 3, 3][id] as number) / 8, 0.5);
    const tests = [[1, 3], [2, 2], [3]];
    // (1,3): 8/81 against 3/64, class a; (2,2): 4/81 against 9/64, b; (3): 2/9 against 3/8, b.
    expect(tests.map((d) => (pa(d) > pb(d) ? 0 : 1))).toEqual([0, 1, 1]);
    const r = naiveBayes(train, texts(tests, [0, 1, 0]));
    expect(r.accuracy).toBeCloseTo(2 / 3, 12);
    expect(r.majority).toBeCloseTo(2 / 3, 12);
    // Accuracy counts the labels: the same predictions against other labels.
    expect(naiveBayes(train, texts([[1, 3], [2, 2], [3]], [1, 0, 1])).accuracy).toBeCloseTo(1 / 3, 12);
  });

  it('fedpft baseline on the shipped spam task prints its accuracy; an image task is one line, exit 2', async () => {
    const r = await cli(['baseline', 'scenarios/paper/table1-iid-spam.yaml', '--json']);
    expect(r.code, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout) as { dataset: string; train: number; validation: number; accuracy: number; majority: number };
    expect(out).toMatchObject({ dataset: 'spam', train: 4733, validation: 1183 });
    expect(out.accuracy).toBeGreaterThan(out.majority);
    const image = await cli(['baseline', 'scenarios/quickstart.yaml']);
    expect(image.code).toBe(2);
    expect(image.stderr.trim().split('\n')).toHaveLength(1);
    expect(image.stderr).toMatch(/quickstart\.yaml: task\.dataset: the naive Bayes baseline reads text; mnist is an image task/);
  });
});
