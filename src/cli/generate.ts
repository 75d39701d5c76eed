// `cli generate <model> --prompt TEXT`: continues the prompt on the GPU with a KV cache, streaming the text to
// stdout as tokens arrive; speed and the seed (to replay a sampled run) go to stderr. With --adapter DIR (and
// --task NAME for MTL-LoRA) the adapter's branches join every cached step, with the same sampling options.

import { TextStream, generate } from '../model/generate';
import { describeModel, loadDescribed } from '../model/load';
import { releaseWeights } from '../model/weights';
import { adapterFromData, readAdapterDir, taskIndex } from './adapterDir';
import { ADAPTER_FLAGS, MODEL_FLAGS, UsageError, modelArgument, withModelFiles } from './args';
import { KERNEL_FLAGS, openGpu, parseKernelSetting } from './kernels';
import { defineCommand, parseCommandArgs, usageLine } from './flags';

/** Sampling defaults as llama.cpp's: temperature 0.8, top-p 0.95 (top-k off here unless asked for). */
export const GENERATE = defineCommand({
  name: 'generate',
  args: '<model>',
  summary: 'continue --prompt TEXT with a KV cache (greedy or sampled), streaming the text',
  flags: {
    prompt: { type: 'string', value: 'TEXT', required: true, help: 'the text to continue' },
    'max-tokens': { type: 'string', value: 'N', default: '128', help: 'new tokens at most (fewer at EOS)' },
    greedy: { type: 'boolean', help: 'always take the most likely token' },
    temperature: { type: 'string', value: 'T', default: '0.8', help: 'sampling temperature (0: greedy)' },
    'top-k': { type: 'string', value: 'K', defaultText: 'off', help: 'sample among the K most likely tokens (0: off)' },
    'top-p': {
      type: 'string',
      value: 'P',
      default: '0.95',
      help: 'sample among the most likely tokens holding P of the probability',
    },
    seed: {
      type: 'string',
      value: 'S',
      defaultText: 'random, printed at the end to replay the run',
      help: 'sampling seed',
    },
    ...ADAPTER_FLAGS,
    ...MODEL_FLAGS,
    ...KERNEL_FLAGS,
  },
});

/** A flag's number, checked; absent (no default) stays undefined. */
function number(name: string, value: string, ok: (x: number) => boolean, what: string): number;
function number(name: string, value: string | undefined, ok: (x: number) => boolean, what: string): number | undefined;
function number(name: string, value: string | undefined, ok: (x: number) => boolean, what: string): number | undefined {
  if (value === undefined) return undefined;
  const x = Number(value);
  if (value.trim() === '' || !ok(x)) throw new UsageError(`--${name} ${value}: expected ${what}.`);
  return x;
}

export async function generateCommand(args: string[]): Promise<void> {
  const { values, positionals } = parseCommandArgs(args, GENERATE);
  const path = modelArgument(positionals, usageLine(GENERATE));
  if (values.task !== undefined && values.adapter === undefined)
    throw new UsageError('--task applies with --adapter DIR.');
  const adapterData = values.adapter === undefined ? null : await readAdapterDir(values.adapter);
  const task = adapterData ? taskIndex(adapterData.config, values.task) : 0;
  const whole = (x: number) => Number.isSafeInteger(x) && x >= 0;
  const maxNewTokens = number('max-tokens', values['max-tokens'], whole, 'a whole number of tokens');
  const temperature = number('temperature', values.temperature, (x) => Number.isFinite(x) && x >= 0, 'a number ≥ 0');
  const topK = number('top-k', values['top-k'], whole, 'a whole number (0: off)');
  const topP = number('top-p', values['top-p'], (x) => x > 0 && x <= 1, 'a number in (0, 1]');
  const seed = number('seed', values.seed, (x) => whole(x) && x < 2 ** 32, 'a whole number below 2^32');
  const quant = values.quant;

  await withModelFiles(path, values.tokenizer, async (files) => {
    if (values.tokenizer !== undefined && files.kind !== 'llama2c') {
      throw new UsageError(
        '--tokenizer applies to llama2.c .bin checkpoints; GGUF files and model folders carry their own.',
      );
    }
    const description = await describeModel(files);
    const tok = description.tokenizer;
    if (!tok) {
      throw new UsageError(
        `${path} has no tokenizer: for a llama2.c .bin, put tokenizer.bin beside it or pass ` +
          '--tokenizer PATH; a GGUF file needs tokenizer.ggml.* metadata.',
      );
    }
    const prompt = tok.encode(values.prompt);
    const ctx = await openGpu(parseKernelSetting(values.kernels));
    try {
      const { weights } = await loadDescribed(ctx, description, { quant });
      const stream = new TextStream(tok, prompt);
      process.stdout.write(tok.decode(prompt));
      const adapter = adapterData && adapterFromData(ctx, description.config, adapterData);
      const r = await generate(ctx, weights, description.config, prompt, {
        maxNewTokens,
        greedy: values.greedy,
        temperature,
        topK,
        topP,
        seed,
        eosId: tok.eosId,
        onToken: (id) => process.stdout.write(stream.push(id)),
        adapted: adapter ? { adapter, run: { task, dropoutSeed: 0, params: adapter.params } } : undefined,
      }).finally(() => adapter?.release());
      process.stdout.write('\n');
      releaseWeights(weights);
      const sampling = values.greedy || temperature === 0 ? 'greedy' : `seed ${r.seed}`;
      console.error(
        `${r.tokens.length} tokens, ${r.tokensPerSecond.toFixed(1)} tokens/s decode; prompt ` +
          `${r.promptTokens} tokens in ${r.prefillMs.toFixed(0)} ms; ${sampling}; stopped by ${r.stoppedBy} ` +
          `(${ctx.adapterName})`,
      );
    } finally {
      ctx.destroy();
    }
  });
}
