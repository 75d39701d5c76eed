// Loading a model: recognise the files, describe the model (configuration, tensors, tokenizer) from headers
// alone, then stream the weights to the GPU. One entry point for the UI worker, the CLI and the tests.

import type { GpuContext } from '../gpu/context';
import type { ByteSource } from '../io/byteSource';
import type { Tokenizer } from '../io/tokenizer';
import type { LlamaConfig } from './config';
import { describeGguf } from './formats/gguf';
import { describeHf } from './formats/hf';
import { describeLlama2c } from './formats/llama2c';
import { checkWeightsFit } from './memory';
import type { TensorSource } from './tensorSource';
import { type LoadWeightsOptions, type ModelWeights, loadWeights } from './weights';

export type ModelFiles =
  | { kind: 'gguf'; file: ByteSource }
  | { kind: 'llama2c'; file: ByteSource; tokenizer?: ByteSource }
  /** A Hugging Face folder: config.json, *.safetensors (and the index when sharded), tokenizer files. */
  | { kind: 'hf'; files: Map<string, ByteSource> };

export interface ModelDescription {
  name: string;
  config: LlamaConfig;
  tensors: TensorSource[];
  tokenizer: Tokenizer | null;
  /** Jinja chat template, when the model has one. */
  chatTemplate?: string;
}

export interface LoadedModel extends ModelDescription {
  weights: ModelWeights;
}

export async function describeModel(files: ModelFiles): Promise<ModelDescription> {
  switch (files.kind) {
    case 'gguf':
      return describeGguf(files.file);
    case 'llama2c':
      return describeLlama2c(files.file, files.tokenizer);
    case 'hf':
      return describeHf(files.files);
  }
}

export async function loadModel(
  ctx: GpuContext,
  files: ModelFiles,
  opts: LoadWeightsOptions = {},
): Promise<LoadedModel> {
  return loadDescribed(ctx, await describeModel(files), opts);
}

/** Streams an already described model to the GPU (callers that needed the tokenizer or config first). */
export async function loadDescribed(
  ctx: GpuContext,
  description: ModelDescription,
  opts: LoadWeightsOptions = {},
): Promise<LoadedModel> {
  // Refuse before the first upload: a model over the adapter's limits would otherwise fail halfway through.
  checkWeightsFit(description.config, description.tensors, opts.quant, ctx.info.limits);
  const weights = await loadWeights(ctx, description.tensors, description.config, opts);
  return { ...description, weights };
}
