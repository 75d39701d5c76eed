// llama.cpp (npm node-llama-cpp, CPU) as the outside oracle: its logits at every position of a token
// sequence for a GGUF file. One Llama instance per test file; models and contexts are disposed after use.

import { type ControlledEvaluateInputItem, type Llama, LlamaLogLevel, type Token, getLlama } from 'node-llama-cpp';

let shared: Promise<Llama> | null = null;

function llama(): Promise<Llama> {
  return (shared ??= getLlama({ gpu: false, build: 'never', logLevel: LlamaLogLevel.error }));
}

/**
 * llama.cpp's logits [T][vocab] for `tokens` at positions 0..T−1. The KV cache is kept in F32 and flash
 * attention off: llama.cpp's default F16 cache rounds K and V (a storage choice, not the model's semantics),
 * which would hide real differences of ours under its own rounding (with it, stories260K's logits differ from
 * the float64 reference by 1.9e-3 instead of 1e-6). With `lora`, that GGUF LoRA adapter is applied at scale 1.
 */
export async function llamaCppLogits(
  path: string,
  tokens: number[],
  vocabSize: number,
  lora?: string,
): Promise<Float64Array[]> {
  const model = await (await llama()).loadModel({ modelPath: path });
  try {
    const ctx = await model.createContext({
      contextSize: Math.max(64, tokens.length),
      flashAttention: false,
      experimentalKvCacheKeyType: 'F32',
      experimentalKvCacheValueType: 'F32',
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
