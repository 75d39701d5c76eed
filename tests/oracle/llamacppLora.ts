// llama.cpp (node-llama-cpp, CPU) logits with a GGUF LoRA adapter applied at scale 1, for the export tests:
// the same settings as llamacpp.ts (F32 KV cache, flash attention off, logits at every position) plus
// createContext's `lora`. Kept apart so the base-model oracle stays as it is.

import { type ControlledEvaluateInputItem, type Llama, LlamaLogLevel, type Token, getLlama } from 'node-llama-cpp';

let shared: Promise<Llama> | null = null;

function llama(): Promise<Llama> {
  return (shared ??= getLlama({ gpu: false, build: 'never', logLevel: LlamaLogLevel.error }));
}

/** llama.cpp's logits [T][vocab] for `tokens` on the model at `path`, with the LoRA file `lora` when given. */
export async function llamaCppLogitsWithLora(path: string, tokens: number[], vocabSize: number, lora?: string):
  Promise<Float64Array[]> {
  const model = await (await llama()).loadModel({ modelPath: path });
  try {
    const ctx = await model.createContext({
      contextSize: Math.max(64, tokens.length), flashAttention: false,
      experimentalKvCacheKeyType: 'F32', experimentalKvCacheValueType: 'F32',
      ...(lora ? { lora: { adapters: [{ filePath: lora, scale: 1 }] } } : {}),
    });
    try {
      const input = tokens.map((t): ControlledEvaluateInputItem => [t as Token, { generateNext: { logits: true } }]);
      const out = await ctx.getSequence().controlledEvaluate(input);
      return out.map((item, i) => {
        const logits = item?.next?.logits;
        if (!logits || logits.size !== vocabSize) throw new Error(`llama.cpp gave no full logits at position ${i}`);
        const row = new Float64Array(vocabSize);
        for (const [token, value] of logits) row[token] = value;
        return row;
      });
    } finally {
      await ctx.dispose();
    }
  } finally {
    await model.dispose();
  }
}
