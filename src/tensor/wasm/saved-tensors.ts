import { engineInternals } from '../tfjs-internals.js';

/**
 * tfjs keeps each tensor a gradient needs as keep(clone(t)): an Identity kernel call plus a tape
 * node that no gradient follows (the tape is filtered to the path from the inputs to the loss),
 * only to hold a second reference to the same data. On wasm the engine instead makes a new
 * tensor object on the same data, with the reference counts the shared Identity would take (the
 * backend's and the engine's): the same tensors without the dispatch, the tape node and their
 * garbage. Other backends keep tfjs's way.
 */
export function shareSavedTensors(): void {
  const engine = engineInternals();
  const original = engine.saveTensorsForBackwardMode.bind(engine);
  engine.saveTensorsForBackwardMode = (tensors) => {
    if (engine.backendName !== 'wasm') return original(tensors);
    return tensors.map((t) => {
      engine.backend.incRef(t.dataId);
      return engine.keep(engine.makeTensorFromTensorInfo({ dataId: t.dataId, shape: t.shape, dtype: t.dtype }));
    });
  };
}
