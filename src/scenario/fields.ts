/**
 * Field builders for scenario schemas. Every message starts with "expected ..." so that load.ts
 * can finish it with what the file actually holds ("..., got 0").
 */
import { z } from 'zod';

export function int(min: number) {
  const error = `expected an integer >= ${min}`;
  return z.int({ error }).min(min, { error });
}

export function positive() {
  const error = 'expected a number > 0';
  return z.number({ error }).positive({ error });
}

export function nonNegative() {
  const error = 'expected a number >= 0';
  return z.number({ error }).min(0, { error });
}

export function oneOf<const T extends readonly [string, ...string[]]>(values: T) {
  return z.enum(values, { error: `expected one of ${values.join(' | ')}` });
}

/** Strict, so that a misspelt optional key is an error instead of a silently ignored default. */
export function mapping<Shape extends z.ZodRawShape>(shape: Shape) {
  return z.strictObject(shape, { error: 'expected a mapping' });
}

/** A key that one variant of a union must not have (rather than "unknown field", say why). */
export function forbidden(reason: string) {
  return z.never({ error: reason }).optional();
}

/** For z.discriminatedUnion: name the valid tags when the tag is wrong. */
export function unionError(issue: z.core.$ZodRawIssue): string {
  if (issue.code === 'invalid_union' && 'options' in issue && Array.isArray(issue.options)) {
    return `expected one of ${issue.options.map(String).join(' | ')}`;
  }
  return 'expected a mapping';
}
