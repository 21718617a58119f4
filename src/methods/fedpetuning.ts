import type { LabelledExamples } from '../data/dataset.js';
import { countParams, disposeParams, flattenParams } from '../model/params.js';
import type { EvalResult } from '../model/train.js';
import { forwardMacs } from '../model/encoder.js';
import { headSchema, loraSchema } from '../scenario/schema.js';
import { defineMethod, type OptionsOf } from './define.js';
import { FullModel } from './full-model.js';
import { headFacts, toNamedArrays, trainableNames, withLoraAndHead } from './lora-setup.js';
import type { Method, MethodContext, MethodSetup } from './method.js';

/**
 * FedPETuning (METHOD.md): clients hold the full FM; LoRA on attention query, key, value and
 * output plus the head train and travel. The evaluation model is the client model.
 */
const options = { lora: loraSchema, head: headSchema };

function fedPETuning(config: OptionsOf<typeof options>): Method {
  let full: FullModel | null = null;
  let validation: LabelledExamples | null = null;
  return {
    name: 'fedpetuning',
    async setup(ctx: MethodContext): Promise<MethodSetup> {
      const { cfg, params, exchanged } = withLoraAndHead(ctx.fm.params, ctx.fm.cfg, ctx.data.train.numClasses, config.lora, ctx.scenario.seed, config.head);
      const trainable = trainableNames(params, exchanged);
      const spec = { config: cfg, tensors: await toNamedArrays(params), trainable, lora: config.lora };
      const initial = await flattenParams(params, trainable);
      const all = [...params.keys()];
      const info = {
        head: headFacts(config.head, exchanged),
        fmParams: countParams(params, all),
        clientModelParams: countParams(params, all),
        trainableParams: countParams(params, trainable),
        clientForwardMacsPerExample: forwardMacs(cfg, ctx.data.train.featureSize, config.lora.rank),
        fmForwardMacsPerExample: forwardMacs(cfg, ctx.data.train.featureSize, config.lora.rank),
      };
      full = await FullModel.create(cfg, params, trainable, config.lora);
      disposeParams(params);
      validation = ctx.data.validation;
      return { clientModel: spec, initial, info };
    },
    evaluate(global: Float32Array): Promise<EvalResult> {
      if (!full || !validation) throw new Error('fedpetuning: setup() has not run');
      return full.evaluate(global, validation);
    },
    dispose(): void {
      full?.dispose();
      full = null;
    },
  };
}

export default defineMethod({
  name: 'fedpetuning',
  description: 'clients train LoRA and the head on the full FM (the upper bound on accuracy and cost)',
  options,
  server: fedPETuning,
});
