// The order of Q and K output rows, and how exports translate it (docs/DESIGN.md §5).
//
// RoPE rotates pairs of dimensions within each head. Hugging Face checkpoints pair j with j + d/2 ("half");
// llama.cpp's converter permutes a llama-architecture model's Q and K rows per head so that pairs are
// adjacent (2j, 2j + 1), K with the KV head count; llama2.c checkpoints are adjacent natively; Qwen2 GGUFs
// keep HF's order. src/model/config.ts records which order the base we *loaded* had (ropePairing).
//
// An adapter is trained on top of the base as we load it, so its Q/K lora_B rows (and a merged Q/K weight)
// are in that base's order. Every export states the order its consumer expects and reorders if they differ:
//   - PEFT and merged safetensors feed Hugging Face transformers: 'half', always.
//   - GGUF (LoRA or merged) feeds llama.cpp: 'adjacent' for the llama architecture, 'half' for qwen2.
// So: trained on an HF llama folder → GGUF gets lora_b rows of Q/K permuted (as convert_lora_to_gguf.py does);
// trained on a llama GGUF or llama2.c .bin → GGUF as is, PEFT gets them un-permuted. lora_A (input side) and
// every other module are never reordered: the permutation acts on Q/K output features only.

import type { LlamaConfig, RopePairing } from '../model/config';

/** The pairing Hugging Face transformers computes with (PEFT adapters, merged safetensors). */
export const HF_PAIRING: RopePairing = 'half';

/** The pairing llama.cpp computes with for a GGUF of this architecture. */
export function ggufPairing(arch: LlamaConfig['arch']): RopePairing {
  return arch === 'llama' ? 'adjacent' : 'half';
}

/**
 * Rows [rows, cols] of a Q (heads = nHeads) or K (heads = nKvHeads) projection moved from pairing `from` to
 * `to`. half → adjacent is convert_hf_to_gguf.py's permute: adjacent row h·d + 2j + s is half row
 * h·d + s·d/2 + j (s ∈ {0, 1}); adjacent → half is its inverse. Returns the input when nothing moves.
 */
export function reorderRows(
  values: Float32Array,
  heads: number,
  rows: number,
  cols: number,
  from: RopePairing,
  to: RopePairing,
): Float32Array {
  if (from === to) return values;
  if (rows % heads || (rows / heads) % 2) throw new Error(`cannot reorder ${rows} rows as ${heads} heads of even size`);
  const d = rows / heads;
  const out = new Float32Array(values.length);
  for (let h = 0; h < heads; h++) {
    for (let j = 0; j < d / 2; j++) {
      for (let s = 0; s < 2; s++) {
        const half = (h * d + s * (d / 2) + j) * cols;
        const adjacent = (h * d + 2 * j + s) * cols;
        const [src, dst] = from === 'half' ? [half, adjacent] : [adjacent, half];
        out.set(values.subarray(src, src + cols), dst);
      }
    }
  }
  return out;
}

/** The heads a module's output rows are split into when it is Q or K (an adapter target or 'q'/'k'); else null. */
export function qkHeads(cfg: LlamaConfig, target: string): number | null {
  return target === 'q' ? cfg.nHeads : target === 'k' ? cfg.nKvHeads : null;
}
