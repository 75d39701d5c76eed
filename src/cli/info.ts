// `cli info <model>`: what a model is, from its headers alone (no GPU, no weights read): architecture,
// configuration, parameter count, stored tensor types, tokenizer, and the GPU memory it will take.

import { parameterCount } from '../model/config';
import { describeModel } from '../model/load';
import { estimateMemory } from '../model/memory';
import { MODEL_FLAGS, UsageError, modelArgument, withModelFiles } from './args';
import { defineCommand, parseCommandArgs, usageLine } from './flags';

export const INFO = defineCommand({
  name: 'info',
  args: '<model>',
  summary: 'configuration, parameter count, tensor types and GPU memory estimate of <model> (JSON)',
  flags: {
    ...MODEL_FLAGS,
    context: {
      type: 'string',
      value: 'N',
      help: 'context length the KV-cache estimate is for',
      defaultText: "the model's context length",
    },
  },
});

export async function infoCommand(args: string[]): Promise<void> {
  const { values, positionals } = parseCommandArgs(args, INFO);
  const path = modelArgument(positionals, usageLine(INFO));
  const quant = values.quant;
  const context = values.context === undefined ? undefined : Number(values.context);
  if (context !== undefined && !(Number.isSafeInteger(context) && context > 0)) {
    throw new UsageError(`--context ${values.context}: expected a positive whole number of tokens.`);
  }
  const info = await withModelFiles(path, values.tokenizer, async (files) => {
    const m = await describeModel(files);
    const tensorTypes: Record<string, number> = {};
    for (const t of m.tensors) tensorTypes[t.dtype] = (tensorTypes[t.dtype] ?? 0) + 1;
    const mem = estimateMemory(m.config, m.tensors, {
      quant,
      contextLength: context && Math.min(context, m.config.contextLength),
    });
    return {
      model: path,
      name: m.name,
      format: files.kind,
      architecture: m.config.arch,
      config: m.config,
      parameters: parameterCount(m.config),
      tensors: m.tensors.length,
      tensorTypes,
      tokenizer: m.tokenizer
        ? { vocabSize: m.tokenizer.vocabSize, bos: m.tokenizer.bosId, eos: m.tokenizer.eosId }
        : null,
      chatTemplate: m.chatTemplate !== undefined,
      memory: {
        quant,
        contextLength: mem.contextLength,
        sequenceLength: mem.sequenceLength,
        weightBytes: mem.weights.bytes,
        weightBytesByType: mem.weights.byType,
        kvCacheBytes: mem.kvCache.bytes,
        activationBytes: mem.activations.bytes,
        totalBytes: mem.total,
        largestBuffer: mem.largestBuffer,
      },
    };
  });
  console.log(JSON.stringify(info, null, 2));
}
