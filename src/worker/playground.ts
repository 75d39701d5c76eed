// The playground's generation: greedy continuation of a prompt, streamed as text, with or without a run's
// adapter, so the two can be compared side by side. The base model decodes through the KV cache
// (src/model/generate.ts); with an adapter the adapter-aware forward decodes (src/train/decode.ts, which
// re-runs the sequence per step), a few tokens per call so text still streams.

import type { Adapter } from '../adapters/types';
import type { GpuContext } from '../gpu/context';
import type { Tokenizer } from '../io/tokenizer';
import { generate, TextStream } from '../model/generate';
import { greedyDecode } from '../train/decode';
import type { TrainModel } from '../train/step';
import type { GenerateOutcome, GenerateRequest } from './protocol';

/** New tokens per adapter decode call: small enough to stream, large enough to amortise the batch setup. */
const CHUNK = 8;

export async function generateText(ctx: GpuContext, model: TrainModel, tok: Tokenizer,
  withAdapter: { adapter: Adapter; task: number } | null, spec: GenerateRequest,
  onText: (textSoFar: string) => void): Promise<GenerateOutcome> {
  const prompt = tok.encode(spec.prompt, { bos: true });
  if (prompt.length === 0) throw new Error('The prompt is empty and this tokenizer adds no BOS: type something.');
  const room = model.config.contextLength - prompt.length;
  if (room <= 0) throw new Error(`The prompt has ${prompt.length} tokens, the model's whole context (${model.config.contextLength}).`);
  const maxNew = Math.min(spec.maxNewTokens, room);
  const stream = new TextStream(tok, prompt);
  let text = '';
  const push = (id: number) => {
    text += stream.push(id);
    onText(text);
  };
  const t0 = performance.now();
  let count = 0;
  if (!withAdapter) {
    const out = await generate(ctx, model.weights, model.config, prompt, {
      maxNewTokens: maxNew, greedy: true, eosId: tok.eosId, onToken: (id) => { if (id !== tok.eosId) push(id); },
    });
    count = out.tokens.length;
  } else {
    const run = { task: withAdapter.task, dropoutSeed: 0, params: withAdapter.adapter.params };
    const seq = [...prompt];
    while (count < maxNew) {
      const want = Math.min(CHUNK, maxNew - count);
      const [ids] = await greedyDecode(ctx, model, withAdapter.adapter, run, [seq], { maxNewTokens: want, eosId: tok.eosId });
      ids.forEach(push);
      seq.push(...ids);
      count += ids.length;
      if (ids.length < want) break; // EOS (or the context is full)
    }
  }
  return { text, tokens: count, ms: performance.now() - t0 };
}
