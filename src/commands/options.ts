import { fileURLToPath } from 'node:url';
import { UserError } from '../util/errors.js';

/** The quickstart scenario, run when no scenario file is given. */
export const DEFAULT_SCENARIO = fileURLToPath(new URL('../../../scenarios/quickstart.yaml', import.meta.url));

/** A commander option parser for integers >= 1 that fails with a one-line UserError. */
export const positiveInt = (flag: string) => (v: string) => {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) throw new UserError('command line', flag, `expected an integer >= 1, got "${v}"`);
  return n;
};
