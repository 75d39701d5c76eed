// Base + adapter → merged weights, tensor by tensor and lazily (only one tensor's values are in memory at a
// time): each adapted matrix becomes W + s·B·A, summed in float64 per row and rounded once to f32, after
// decoding W from whatever the base stores (quantized bases are dequantized here; the writer re-encodes).
// Q/K rows (and Qwen2's Q/K biases) are then moved to the pairing the output's consumer expects (rowOrder.ts).
// Tensors keep their GGUF names (the description's); the safetensors writer renames them.

import type { RopePairing } from '../model/config';
import type { ModelDescription } from '../model/load';
import type { StoredDtype } from '../model/tensorSource';
import { GGUF_MODULES } from './ggufLora';
import type { LoraSite, PlainLora } from './plainLora';
import { qkHeads, reorderRows } from './rowOrder';
import { decodeTensor } from './tensorCodec';

export interface MergedTensor {
  /** GGUF name (token_embd.weight, blk.N.attn_q.weight, …). */
  name: string;
  shape: number[];
  /** How the base stores it. */
  stored: StoredDtype;
  /** True when the values differ from the stored ones (merged, or rows reordered): the bytes cannot be copied. */
  changed: boolean;
  /** The base's stored bytes (what to copy when nothing changed and the type is kept). */
  bytes(): Promise<Uint8Array>;
  /** The merged (and reordered) values as f32. */
  values(): Promise<Float32Array>;
}

/** W [out, in] += s·B·A in float64 per row, rounded once to f32. */
export function mergeSite(W: Float32Array, site: LoraSite, rank: number, scale: number): Float32Array {
  const { in: n, out, A, B } = site;
  const out32 = new Float32Array(W.length);
  const row = new Float64Array(n);
  for (let i = 0; i < out; i++) {
    for (let j = 0; j < n; j++) row[j] = W[i * n + j];
    for (let k = 0; k < rank; k++) {
      const c = scale * B[i * rank + k];
      if (c === 0) continue;
      for (let j = 0; j < n; j++) row[j] += c * A[k * n + j];
    }
    out32.set(row, i * n);
  }
  return out32;
}

/** 'q' or 'k' when the tensor's rows are Q's or K's output features (weight or bias), else null. */
function qkOf(name: string): 'q' | 'k' | null {
  const m = /^blk\.\d+\.attn_([qk])\.(weight|bias)$/.exec(name);
  return m ? (m[1] as 'q' | 'k') : null;
}

/**
 * The base's tensors with `lora` merged in and Q/K rows moved to pairing `to`. `lora` null merges nothing
 * (a re-encoding of the base alone).
 */
export function mergedTensors(d: ModelDescription, lora: PlainLora | null, to: RopePairing): MergedTensor[] {
  const cfg = d.config;
  const sites = new Map((lora?.sites ?? []).map((s) => [`blk.${s.layer}.${GGUF_MODULES[s.target]}.weight`, s]));
  const scale = lora ? lora.alpha / lora.rank : 0;
  return d.tensors.map((t) => {
    const site = sites.get(t.name);
    const qk = qkOf(t.name);
    const heads = qk === null ? null : qkHeads(cfg, qk);
    const reorder = heads !== null && cfg.ropePairing !== to;
    const count = t.shape.reduce((a, b) => a * b, 1);
    return {
      name: t.name,
      shape: t.shape,
      stored: t.dtype,
      changed: !!site || reorder,
      bytes: () => t.read(),
      async values() {
        let v = decodeTensor(t.dtype, await t.read(), count, t.name);
        if (site) v = mergeSite(v, site, lora!.rank, scale);
        if (heads !== null) v = reorderRows(v, heads, t.shape[0], count / t.shape[0], cfg.ropePairing, to);
        return v;
      },
    };
  });
}
