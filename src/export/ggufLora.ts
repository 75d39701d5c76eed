// llama.cpp LoRA adapters (docs/DESIGN.md §6), as convert_lora_to_gguf.py writes them: KVs general.type "adapter",
// adapter.type "lora", adapter.lora.alpha (f32), general.architecture equal to the base's; tensors
// blk.N.attn_q.weight.lora_a with row-major shape [r, in] (ggml dims [in, r]) and ….lora_b [out, r] (ggml
// [r, out]), i.e. PEFT's shapes, in F32. llama.cpp scales by alpha / r, reading r from lora_b, as we do.
// Q/K lora_b rows are put in llama.cpp's order for the architecture (rowOrder.ts).

import type { TargetModule } from '../adapters/types';
import type { LlamaConfig } from '../model/config';
import { type GgufTensorData, writeGguf } from '../io/ggufWriter';
import type { PlainLora } from './plainLora';
import { ggufPairing, qkHeads, reorderRows } from './rowOrder';

/** GGUF tensor name (after blk.N.) of each adapter target's frozen weight. */
export const GGUF_MODULES: Record<TargetModule, string> = {
  q: 'attn_q',
  k: 'attn_k',
  v: 'attn_v',
  o: 'attn_output',
  gate: 'ffn_gate',
  up: 'ffn_up',
  down: 'ffn_down',
};

const bytesOf = (a: Float32Array) => new Uint8Array(a.buffer, a.byteOffset, a.byteLength);

/** The GGUF LoRA file of one plain LoRA for the base `cfg`, as parts. */
export function ggufLoraFile(lora: PlainLora, cfg: LlamaConfig, name: string): Uint8Array[] {
  const tensors: GgufTensorData[] = lora.sites.flatMap((s) => {
    const weight = `blk.${s.layer}.${GGUF_MODULES[s.target]}.weight`;
    const heads = qkHeads(cfg, s.target);
    const B = heads === null ? s.B : reorderRows(s.B, heads, s.out, lora.rank, cfg.ropePairing, ggufPairing(cfg.arch));
    return [
      { name: `${weight}.lora_a`, type: 'F32' as const, shape: [lora.rank, s.in], data: bytesOf(s.A) },
      { name: `${weight}.lora_b`, type: 'F32' as const, shape: [s.out, lora.rank], data: bytesOf(B) },
    ];
  });
  return writeGguf(
    [
      { key: 'general.architecture', type: 'string', value: cfg.arch },
      { key: 'general.type', type: 'string', value: 'adapter' },
      { key: 'general.name', type: 'string', value: name },
      { key: 'adapter.type', type: 'string', value: 'lora' },
      { key: 'adapter.lora.alpha', type: 'f32', value: lora.alpha },
    ],
    tensors,
  );
}
