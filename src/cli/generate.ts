// `cli generate <model> --prompt TEXT`: continues the prompt on the GPU with a KV cache, streaming the text to
// stdout as tokens arrive; speed and the seed (to replay a sampled run) go to stderr. With --adapter DIR (and
// --task NAME for MTL-LoRA) the adapter's branches join every cached step, with the same sampling options.

import { GpuContext } from '../gpu/context';
import { TextStream, generate } from '../model/generate';
import { describeModel, loadDescribed } from '../model/load';
import { releaseWeights } from '../model/weights';
import { adapterFromData, readAdapterDir, taskIndex } from './adapterDir';
import { UsageError, modelArgument, parseCommandArgs, parseQuant, withModelFiles } from './args';

const USAGE = 'npm run cli -- generate <model> --prompt TEXT [--max-tokens N] [--greedy] [--temperature T] ' +
  '[--top-k K] [--top-p P] [--seed S] [--tokenizer tokenizer.bin] [--quant keep|q8_0|q4_0] [--adapter DIR [--task NAME]]';

/** Defaults as llama.cpp's: temperature 0.8, top-p 0.95 (top-k off here unless asked for). */
const DEFAULTS = { maxTokens: 128, temperature: 0.8, topP: 0.95 };

function number(name: string, value: string | undefined, ok: (x: number) => boolean, what: string): number | undefined {
  if (value === undefined) return undefined;
  const x = Number(value);
  if (value.trim() === '' || !ok(x)) throw new UsageError(`--${name} ${value}: expected ${what}.`);
  return x;
}

export async function generateCommand(args: string[]): Promise<void> {
  const { values, positionals } = parseCommandArgs(args, {
    prompt: { type: 'string' },
    'max-tokens': { type: 'string' },
    greedy: { type: 'boolean' },
    temperature: { type: 'string' },
    'top-k': { type: 'string' },
    'top-p': { type: 'string' },
    seed: { type: 'string' },
    tokenizer: { type: 'string' },
    quant: { type: 'string' },
    adapter: { type: 'string' },
    task: { type: 'string' },
  }, USAGE);
  const path = modelArgument(positionals, USAGE);
  if (values.task !== undefined && values.adapter === undefined) throw new UsageError('--task applies with --adapter DIR.');
  const adapterData = values.adapter === undefined ? null : await readAdapterDir(values.adapter);
  const task = adapterData ? taskIndex(adapterData.config, values.task) : 0;
  if (values.prompt === undefined) throw new UsageError(`--prompt TEXT is required.\nusage: ${USAGE}`);
  const whole = (x: number) => Number.isSafeInteger(x) && x >= 0;
  const maxNewTokens = number('max-tokens', values['max-tokens'], whole, 'a whole number of tokens') ?? DEFAULTS.maxTokens;
  const temperature = number('temperature', values.temperature, (x) => Number.isFinite(x) && x >= 0, 'a number ≥ 0');
  const topK = number('top-k', values['top-k'], whole, 'a whole number (0: off)');
  const topP = number('top-p', values['top-p'], (x) => x > 0 && x <= 1, 'a number in (0, 1]');
  const seed = number('seed', values.seed, (x) => whole(x) && x < 2 ** 32, 'a whole number below 2^32');
  const quant = parseQuant(values.quant);

  await withModelFiles(path, values.tokenizer, async (files) => {
    if (values.tokenizer !== undefined && files.kind !== 'llama2c') {
      throw new UsageError('--tokenizer applies to llama2.c .bin checkpoints; GGUF files and model folders carry their own.');
    }
    const description = await describeModel(files);
    const tok = description.tokenizer;
    if (!tok) {
      throw new UsageError(`${path} has no tokenizer: for a llama2.c .bin, put tokenizer.bin beside it or pass ` +
        '--tokenizer PATH; a GGUF file needs tokenizer.ggml.* metadata.');
    }
    const prompt = tok.encode(values.prompt!);
    const ctx = await GpuContext.create();
    try {
      const { weights } = await loadDescribed(ctx, description, { quant });
      const stream = new TextStream(tok, prompt);
      process.stdout.write(tok.decode(prompt));
      const adapter = adapterData && adapterFromData(ctx, description.config, adapterData);
      const r = await generate(ctx, weights, description.config, prompt, {
        maxNewTokens, greedy: values.greedy, temperature: temperature ?? DEFAULTS.temperature,
        topK, topP: topP ?? DEFAULTS.topP, seed, eosId: tok.eosId,
        onToken: (id) => process.stdout.write(stream.push(id)),
        adapted: adapter ? { adapter, run: { task, dropoutSeed: 0, params: adapter.params } } : undefined,
      }).finally(() => adapter?.release());
      process.stdout.write('\n');
      releaseWeights(weights);
      const sampling = values.greedy || temperature === 0 ? 'greedy' : `seed ${r.seed}`;
      console.error(`${r.tokens.length} tokens, ${r.tokensPerSecond.toFixed(1)} tokens/s decode; prompt ` +
        `${r.promptTokens} tokens in ${r.prefillMs.toFixed(0)} ms; ${sampling}; stopped by ${r.stoppedBy} ` +
        `(${ctx.adapterName})`);
    } finally {
      ctx.destroy();
    }
  });
}
