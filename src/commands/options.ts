import { fileURLToPath } from 'node:url';
import { BACKEND_CHOICES, isBackendChoice, type BackendChoice } from '../tensor/backend-choices.js';
import { UserError } from '../util/errors.js';

/** The quickstart scenario, run when no scenario file is given. */
export const DEFAULT_SCENARIO = fileURLToPath(new URL('../../../scenarios/quickstart.yaml', import.meta.url));

/** A commander option parser for --backend that fails with a one-line UserError. */
export const backendOption = (v: string): BackendChoice => {
  if (!isBackendChoice(v)) throw new UserError('command line', '--backend', `expected ${BACKEND_CHOICES.join(' | ')}, got "${v}"`);
  return v;
};

/** --backend's help text. */
export const BACKEND_HELP = `tensor backend: ${BACKEND_CHOICES.join(' | ')}`;

/** A commander option parser for integers >= 1 that fails with a one-line UserError. */
export const positiveInt = (flag: string) => (v: string) => {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) throw new UserError('command line', flag, `expected an integer >= 1, got "${v}"`);
  return n;
};
