// The playground's generation: continuation of a prompt, streamed as text, with or without a run's adapter, so
// the two can be compared side by side. Both go through the KV-cached generator (src/model/generate.ts), the
// adapter's branches riding along on its projections; greedy unless the request asks for sampling. `params` is
// the adapter's parameter list to run: its own, or a copy adapted to a task (test-time adaptation).

import type { Adapter } from '../adapters/types';
import type { GpuContext } from '../gpu/context';
import type { Tensor } from '../gpu/tensor';
import type { Tokenizer } from '../io/tokenizer';
import { generate, TextStream } from '../model/generate';
import type { TrainModel } from '../train/step';
import type { GenerateOutcome, GenerateRequest } from './protocol';

export async function generateText(
  ctx: GpuContext,
  model: TrainModel,
  tok: Tokenizer,
  withAdapter: { adapter: Adapter; task: number; params: Tensor<'f32'>[] } | null,
  spec: GenerateRequest,
  onText: (textSoFar: string) => void,
): Promise<GenerateOutcome> {
  const prompt = tok.encode(spec.prompt, { bos: true });
  if (prompt.length === 0) throw new Error('The prompt is empty and this tokenizer adds no BOS: type something.');
  const room = model.config.contextLength - prompt.length;
  if (room <= 0)
    throw new Error(
      `The prompt has ${prompt.length} tokens, the model's whole context (${model.config.contextLength}).`,
    );
  const stream = new TextStream(tok, prompt);
  let text = '';
  const t0 = performance.now();
  const out = await generate(ctx, model.weights, model.config, prompt, {
    maxNewTokens: Math.min(spec.maxNewTokens, room),
    // Temperature 0 (the default) is greedy; the sampler checks the values' ranges.
    temperature: spec.temperature ?? 0,
    topP: spec.topP,
    topK: spec.topK,
    seed: spec.seed,
    eosId: tok.eosId,
    onToken: (id) => {
      if (id === tok.eosId) return;
      text += stream.push(id);
      onText(text);
    },
    adapted: withAdapter
      ? { adapter: withAdapter.adapter, run: { task: withAdapter.task, dropoutSeed: 0, params: withAdapter.params } }
      : undefined,
  });
  // EOS is reported by generate() but is not text.
  const tokens = out.tokens.length - (out.stoppedBy === 'eos' ? 1 : 0);
  return { text, tokens, ms: performance.now() - t0 };
}
