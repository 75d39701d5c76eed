// Tile sizes of the FlashAttention-2 attention kernels (shaders/attention_flash_*.wgsl), chosen from the head
// dimension alone. A workgroup owns `own` rows (query rows for the forward and dQ, key rows for dK/dV) and
// streams the other side through workgroup memory `tile` rows at a time; `lanes` invocations share each owned
// row, each holding ⌈hd/4/lanes⌉ vec4 chunks of its accumulators. Bigger tiles mean fewer global loads per
// multiply-add (each staged k/v or q/dO element serves `own` rows) but more workgroup memory: the arrays are
// kept within 16 KiB, WebGPU's guaranteed limit and small enough for several workgroups per GPU core, so the
// same sizes run everywhere (the float64 tests on SwiftShader check exactly what GPUs run).

import { withLib } from '../gpu/wgsl';
import commonSrc from '../../shaders/lib/attention_common.wgsl?raw';
import flashLib from '../../shaders/lib/attention_flash.wgsl?raw';
import fwdKernel from '../../shaders/attention_flash_fwd.wgsl?raw';
import dqKernel from '../../shaders/attention_flash_dq.wgsl?raw';
import dkdvKernel from '../../shaders/attention_flash_dkdv.wgsl?raw';

export type FlashKernel = 'fwd' | 'dq' | 'dkdv';

export const flashSources: Record<FlashKernel, string> = {
  fwd: withLib(fwdKernel, commonSrc, flashLib),
  dq: withLib(dqKernel, commonSrc, flashLib),
  dkdv: withLib(dkdvKernel, commonSrc, flashLib),
};

export interface FlashTiles {
  own: number;
  tile: number;
  lanes: number;
}

/** Workgroup memory the tiles ask for: preferred up to this, whatever the adapter allows. */
const PREFERRED_BYTES = 16384;
/** Invocations per workgroup aimed at: 4 warps / 2 wavefronts, room for several workgroups per core. */
const INVOCATIONS = 128;
/** Vec4 chunks an invocation may own per accumulator (MAX_CHUNKS in shaders/lib/attention_flash.wgsl). */
const MAX_CHUNKS = 4;

/** Bytes of the kernel's `var<workgroup>` arrays (as declared in its shader) for these tiles. */
export function flashWorkgroupBytes(kernel: FlashKernel, hd: number, t: FlashTiles): number {
  const rowBytes = 16 * (Math.ceil(hd / 4) | 1); // ROW4 vec4s: rows padded to an odd stride
  const block = t.own * t.tile * 4; // one f32 per (owned row, streamed row)
  const split = Math.max(1, Math.floor(t.lanes / t.tile)); // SPLIT: invocations per score
  const parts = 2 * 4 * (split > 1 ? t.own * t.tile * split : 1); // PARTS: partial q·k and dO·v
  switch (kernel) {
    case 'fwd': // q block; k, v tiles; partial scores, probabilities; per-invocation row sums
      return rowBytes * (t.own + 2 * t.tile) + block * (split + 1) + 4 * t.own * t.lanes;
    case 'dq': // q, dO blocks; k, v tiles; (lse, D) per row; dS; partial products
      return rowBytes * (2 * t.own + 2 * t.tile) + 8 * t.own + block + parts;
    case 'dkdv': // k, v blocks; q, dO tiles; (lse, D) per query; P, dS; partial products
      return rowBytes * (2 * t.own + 2 * t.tile) + 8 * t.tile + 2 * block + parts;
  }
}

/**
 * The largest tiles (owned rows first, then streamed rows, down to half the owned ones) whose workgroup
 * memory fits min(16 KiB, maxBytes); undefined when none does (the op then runs the blocked kernels).
 */
export function flashTiles(kernel: FlashKernel, hd: number, maxBytes: number): FlashTiles | undefined {
  const hd4 = Math.ceil(hd / 4);
  const budget = Math.min(PREFERRED_BYTES, maxBytes);
  for (const own of [32, 16, 8, 4]) {
    const lanes = Math.min(INVOCATIONS / own, hd4);
    if (Math.ceil(hd4 / lanes) > MAX_CHUNKS) continue;
    for (const tile of [own, own / 2]) {
      const t = { own, tile, lanes };
      if (flashWorkgroupBytes(kernel, hd, t) <= budget) return t;
    }
  }
  return undefined;
}

/** The kernels' override constants for these tiles. */
export function flashConstants(hd: number, t: FlashTiles): Record<string, number> {
  return { HD: hd, OWN: t.own, TILE: t.tile, LANES: t.lanes };
}
