import { fileURLToPath } from 'node:url';
import { BACKEND_CHOICES, isBackendChoice, isKernelChoice, KERNEL_CHOICES, type BackendChoice, type KernelChoice } from '../tensor/backend-choices.js';
import { ACTOR_HOSTS, isActorHost, type ActorHostChoice } from '../scenario/actor-hosts.js';
import { UserError } from '../util/errors.js';

/** The quickstart scenario, run when no scenario file is given. */
export const DEFAULT_SCENARIO = fileURLToPath(new URL('../../../scenarios/quickstart.yaml', import.meta.url));

/** A commander option parser for --backend that fails with a one-line UserError. */
export const backendOption = (v: string): BackendChoice => {
  if (!isBackendChoice(v)) throw new UserError('command line', '--backend', `expected ${BACKEND_CHOICES.join(' | ')}, got "${v}"`);
  return v;
};

/** A commander option parser for --actors that fails with a one-line UserError. */
export const actorsOption = (v: string): ActorHostChoice => {
  if (!isActorHost(v)) throw new UserError('command line', '--actors', `expected ${ACTOR_HOSTS.join(' | ')}, got "${v}"`);
  return v;
};

/** --actors' help text. */
export const ACTORS_HELP = `where client actors run: ${ACTOR_HOSTS.join(' | ')} (overrides runtime.actors; broker needs runtime.broker)`;

/** Applies --actors to a scenario's runtime section; broker needs the file's runtime.broker. */
export function overrideActors(runtime: { actors: ActorHostChoice; broker?: unknown }, actors: ActorHostChoice, file: string): void {
  if (actors === 'broker' && runtime.broker === undefined) throw new UserError(file, 'runtime.broker', '--actors broker needs runtime.broker.url in the scenario (e.g. redis://127.0.0.1:6379)');
  runtime.actors = actors;
}

/** A commander option parser for --kernels that fails with a one-line UserError. */
export const kernelsOption = (v: string): KernelChoice => {
  if (!isKernelChoice(v)) throw new UserError('command line', '--kernels', `expected ${KERNEL_CHOICES.join(' | ')}, got "${v}"`);
  return v;
};

/** --kernels' help text. */
export const KERNELS_HELP = `kernel set: ${KERNEL_CHOICES.join(' | ')} (fast: wasm's matrix products by OpenBLAS, other bits; auto: fast where it loads)`;

/** --backend's help text. */
export const BACKEND_HELP = `tensor backend: ${BACKEND_CHOICES.join(' | ')}`;

/** A commander option parser for integers >= 1 that fails with a one-line UserError. */
export const positiveInt = (flag: string) => (v: string) => {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) throw new UserError('command line', flag, `expected an integer >= 1, got "${v}"`);
  return n;
};
