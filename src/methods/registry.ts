import type { MethodConfig } from '../scenario/schema.js';
import { fedOT } from './fedot.js';
import { fedPETuning } from './fedpetuning.js';
import { fedPFT } from './fedpft.js';
import type { Method } from './method.js';

/** Method name -> plug-in. Adding a method is one file and one line here; the round loop is untouched. */
const FACTORIES: { [K in MethodConfig['name']]: (config: Extract<MethodConfig, { name: K }>) => Method } = {
  fedpetuning: fedPETuning,
  fedot: fedOT,
  fedpft: fedPFT,
  'fedpft-n': fedPFT,
  'fedpft-b': fedPFT,
  'fedpft-d': fedPFT,
};

export function createMethod(config: MethodConfig): Method {
  const factory = FACTORIES[config.name] as (config: MethodConfig) => Method;
  return factory(config);
}
