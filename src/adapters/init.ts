// Seeded host-side initialisation of adapter parameters (PEFT's init, docs/DESIGN.md §4) and the per-site dropout
// seeds. Everything here is a pure function of its seed: the same seed gives the same adapter in the browser,
// in Node and in the float64 reference, and each tensor's values depend only on (seed, tensor name), so
// adding or removing a target leaves the other tensors' initial values unchanged.

import { mulberry32 } from '../util/mulberry32';
import { ALL_TARGETS, type TargetModule } from './types';

/** mulberry32 (src/util/mulberry32.ts): uniforms in [0, 1) from a seed. */
export const seededUniform = mulberry32;

/** A 32-bit mix of two words (murmur3's finaliser over a·φ ⊕ b), used to derive independent seeds. */
export function mixSeed(a: number, b: number): number {
  let h = (Math.imul(a >>> 0, 0x9e3779b1) ^ (b >>> 0)) >>> 0;
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  return (h ^ (h >>> 16)) >>> 0;
}

/** FNV-1a over the name's UTF-16 code units, then mixed with the seed: one generator stream per tensor. */
export function tensorSeed(seed: number, name: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < name.length; i++) h = Math.imul(h ^ name.charCodeAt(i), 0x01000193) >>> 0;
  return mixSeed(seed, h);
}

/**
 * U(−b, b) with b = 1/√fanIn: torch's kaiming_uniform_(a=√5) as PEFT applies it to lora_A
 * (gain √(2/(1+a²)) = √(1/3), bound gain·√(3/fanIn) = 1/√fanIn). Values are rounded to f32.
 */
export function kaimingUniform(count: number, fanIn: number, seed: number, name: string): Float32Array {
  const random = seededUniform(tensorSeed(seed, name));
  const bound = 1 / Math.sqrt(fanIn);
  return Float32Array.from({ length: count }, () => (2 * random() - 1) * bound);
}

/** The r×r identity, row-major (MTL-LoRA's Λ_t init: each task starts as plain LoRA). */
export function identity(r: number): Float32Array {
  const out = new Float32Array(r * r);
  for (let i = 0; i < r; i++) out[i * r + i] = 1;
  return out;
}

/**
 * The dropout-mask seed of one (layer, target) site for one step: distinct sites must not share a mask
 * (the hash covers only (seed, token, feature)), and the reference must derive exactly the same seeds.
 */
export function siteDropoutSeed(stepSeed: number, layer: number, target: TargetModule): number {
  return mixSeed(stepSeed, layer * ALL_TARGETS.length + ALL_TARGETS.indexOf(target));
}
