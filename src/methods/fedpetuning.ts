import { ClientModel } from '../client/client-model.js';
import { imageSize } from '../data/dataset.js';
import { countParams, disposeParams, flattenParams } from '../model/params.js';
import { evaluate, type EvalResult } from '../model/train.js';
import type { Method, MethodContext, MethodSetup } from './method.js';
import { toNamedArrays, trainableNames, withLoraAndHead } from './lora-setup.js';
import type { MethodConfig } from '../scenario/schema.js';

/**
 * FedPETuning (METHOD.md): clients hold the full FM; LoRA on attention query, key, value and
 * output plus the head train and travel. Evaluation model = client model.
 */
export function fedPETuning(config: MethodConfig): Method {
  let evalModel: ClientModel | null = null;
  let validation: MethodContext['data']['validation'] | null = null;
  return {
    name: 'fedpetuning',
    async setup(ctx: MethodContext): Promise<MethodSetup> {
      const { cfg, params } = withLoraAndHead(ctx.fm.params, ctx.fm.cfg, ctx.data.train.numClasses, config.lora, ctx.scenario.seed);
      const trainable = trainableNames(params);
      const spec = { arch: 'vit' as const, config: cfg, tensors: toNamedArrays(params), trainable, lora: config.lora };
      const initial = flattenParams(params, trainable);
      const info = {
        trainableParams: countParams(params, trainable),
        clientModelParams: countParams(params, [...params.keys()]),
      };
      disposeParams(params);
      evalModel = new ClientModel(spec);
      validation = ctx.data.validation;
      return { clientModel: spec, initial, info };
    },
    evaluate(global: Float32Array): EvalResult {
      if (!evalModel || !validation) throw new Error('fedpetuning: setup() has not run');
      const model = evalModel;
      model.setTrainable(global);
      return evaluate((x) => model.forward(x), validation.images, validation.labels, imageSize(validation));
    },
    dispose(): void {
      evalModel?.dispose();
      evalModel = null;
    },
  };
}
