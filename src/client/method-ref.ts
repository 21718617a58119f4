import type { MethodOptions } from '../scenario/schema.js';

/** What a client task says about its method: enough for any actor to find the same client half. */
export interface MethodRef {
  options: MethodOptions;
  /** sha256 of the module file (user methods): an actor whose copy differs refuses the task. */
  moduleSha256?: string;
}
