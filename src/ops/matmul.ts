// matmul: C = alpha·op(A)·op(B), optionally accumulated into C, batched, f32.
// Register-blocked without shared memory (best on CPU adapters such as SwiftShader; with a vec4
// specialisation when the operands are aligned), and shared-memory tiles for real GPUs: `tiled` (64×64, 4×4
// per invocation) and `regtile64` / `regtile128` (8×8 per invocation, vec4 workgroup loads, one body whose
// operand reads are vec4 when aligned and scalar otherwise).
// Which one runs is measured per adapter (src/ops/tuning.ts, `matmulProbe`); callers may force a variant (the
// tests run every one).

import type { GpuContext } from '../gpu/context';
import type { Tensor } from '../gpu/tensor';
import { uniformStructOf } from '../gpu/uniforms';
import type { OverrideConstants } from '../gpu/pipelineCache';
import type { KernelProbe } from './tuning';
import { probeValues } from './probeInputs';
import blockedSrc from '../../shaders/matmul_blocked.wgsl?raw';
import blockedVec4Src from '../../shaders/matmul_blocked_vec4.wgsl?raw';
import tiledSrc from '../../shaders/matmul_tiled.wgsl?raw';
import regtileSrc from '../../shaders/matmul_regtile.wgsl?raw';
import operandsVec4 from '../../shaders/lib/matmul_operands_vec4.wgsl?raw';
import operandsF32 from '../../shaders/lib/matmul_operands_f32.wgsl?raw';
import { withLib } from '../gpu/wgsl';

export type MatmulVariant = 'blocked' | 'tiled' | 'blocked_vec4' | 'regtile64' | 'regtile128';

export interface MatmulOptions {
  transA?: boolean;
  transB?: boolean;
  /** C += alpha·op(A)·op(B) instead of C = alpha·op(A)·op(B). */
  accumulate?: boolean;
  alpha?: number;
  /** Number of independent products; strides are in elements (0 broadcasts that operand). */
  batch?: number;
  strideA?: number;
  strideB?: number;
  strideC?: number;
  variant?: MatmulVariant;
}

const REGTILE_VEC4 = withLib(regtileSrc, operandsVec4);
const REGTILE_F32 = withLib(regtileSrc, operandsF32);

/** One workgroup's output tile (rows × columns of C) and the kernel computing it. */
interface Tile {
  rows: number;
  cols: number;
  code: string;
  /** The regtile body reading aligned operands as vec4 (`code` is then its scalar-read twin, for any layout). */
  vec4?: string;
  constants?: OverrideConstants;
}

const TILE: Record<MatmulVariant, Tile> = {
  blocked: { rows: 32, cols: 64, code: blockedSrc }, // 8×8 invocations × 4×8 outputs
  blocked_vec4: { rows: 32, cols: 64, code: blockedVec4Src },
  tiled: { rows: 64, cols: 64, code: tiledSrc }, // 16×16 invocations × 4×4 outputs
  // 8×8 invocations × 8×8 outputs, K slices of 16: 8.7 KB of workgroup memory.
  regtile64: { rows: 64, cols: 64, code: REGTILE_F32, vec4: REGTILE_VEC4, constants: { WG: 8, BK: 16 } },
  // 16×16 invocations × 8×8 outputs, K slices of 8 (16 would need 16.9 KB, past WebGPU's 16 KiB default).
  regtile128: { rows: 128, cols: 128, code: REGTILE_F32, vec4: REGTILE_VEC4, constants: { WG: 16, BK: 8 } },
};

export type MatmulStrategy = 'blocked' | 'tiled' | 'regtile64' | 'regtile128';

export const MATMUL_STRATEGIES: readonly MatmulStrategy[] = ['blocked', 'tiled', 'regtile64', 'regtile128'];

/** The strategy products use: measured or forced per adapter (`ctx.kernels`, family 'matmul'), else by kind. */
export function matmulStrategy(ctx: GpuContext): MatmulStrategy {
  return ctx.kernels.variant<MatmulStrategy>('matmul', ctx.info.isSoftware ? 'blocked' : 'tiled');
}

/** Whether the vec4 kernel can read both operands: every row start and batch offset a multiple of 4. */
export function vec4Aligned(M: number, N: number, K: number, o: MatmulOptions): boolean {
  const batch = o.batch ?? 1;
  const strides = batch === 1 ? [] : [o.strideA ?? M * K, o.strideB ?? K * N];
  return K % 4 === 0 && (!o.transA || M % 4 === 0) && (o.transB || N % 4 === 0) && strides.every((s) => s % 4 === 0);
}

/** The kernel that runs this product: the strategy's, specialised to vec4 loads where the layout allows. */
export function matmulVariant(ctx: GpuContext, M: number, N: number, K: number, o: MatmulOptions): MatmulVariant {
  if (o.variant) return o.variant;
  const strategy = matmulStrategy(ctx);
  if (strategy !== 'blocked') return strategy;
  return vec4Aligned(M, N, K, o) ? 'blocked_vec4' : 'blocked';
}

/**
 * Records C = alpha·op(A)·op(B) with op(A) M×K and op(B) K×N into `out` (created when omitted).
 * A holds M×K (K×M if transA), B holds K×N (N×K if transB), row-major.
 */
export function matmul(
  ctx: GpuContext,
  a: Tensor<'f32'>,
  b: Tensor<'f32'>,
  M: number,
  N: number,
  K: number,
  opts: MatmulOptions = {},
  out?: Tensor<'f32'>,
): Tensor<'f32'> {
  const batch = opts.batch ?? 1;
  const strideA = opts.strideA ?? M * K;
  const strideB = opts.strideB ?? K * N;
  const strideC = opts.strideC ?? M * N;
  checkSize('A', a, strideA * (batch - 1) + M * K);
  checkSize('B', b, strideB * (batch - 1) + K * N);
  const c = out ?? ctx.tensor(batch === 1 ? [M, N] : [batch, M, N]);
  checkSize('C', c, strideC * (batch - 1) + M * N);
  if (M === 0 || N === 0) return c;

  const variant = matmulVariant(ctx, M, N, K, opts);
  if (variant === 'blocked_vec4' && !vec4Aligned(M, N, K, opts)) throw new Error('matmul: operands not vec4-aligned');
  const tile = TILE[variant];
  // The regtile body reads vec4 only where the layout allows: the choice of variant is about speed, never
  // about which products it can run.
  const code = tile.vec4 && vec4Aligned(M, N, K, opts) ? tile.vec4 : tile.code;
  const pipeline = ctx.pipeline(code, {
    TRANS_A: !!opts.transA,
    TRANS_B: !!opts.transB,
    ACCUMULATE: !!opts.accumulate,
    ...tile.constants,
  });
  const params = uniformStructOf(code, 'Params').pack({
    ...{ M, N, K, alpha: opts.alpha ?? 1 },
    ...{ stride_a: strideA, stride_b: strideB, stride_c: strideC },
  });
  ctx.dispatch(pipeline, [a, b, c, ctx.uniform(params)], [Math.ceil(N / tile.cols), Math.ceil(M / tile.rows), batch]);
  return c;
}

function checkSize(name: string, t: Tensor, needed: number): void {
  if (t.numel < needed) throw new Error(`matmul: ${name} has ${t.numel} elements, the product needs ${needed}`);
}

/**
 * The tuner's workload: a base projection in training (576 → 1536, SmolLM2-135M's up projection) over 512
 * tokens; 32 tokens and 576 outputs on CPU adapters (the ranking holds there, the time does not).
 */
export const matmulProbe: KernelProbe = {
  family: 'matmul',
  variants: () => MATMUL_STRATEGIES,
  sources: [blockedSrc, blockedVec4Src, tiledSrc, REGTILE_VEC4, REGTILE_F32],
  setup(ctx) {
    const [M, N, K] = ctx.info.isSoftware ? [32, 576, 576] : [512, 1536, 576];
    const a = ctx.upload(probeValues(M * K, 1), [M, K]);
    const b = ctx.upload(probeValues(N * K, 2), [N, K]);
    const c = ctx.tensor([M, N]);
    return {
      run: () => matmul(ctx, a, b, M, N, K, { transB: true }, c),
      release: () => [a, b, c].forEach((t) => t.release()),
    };
  },
};
