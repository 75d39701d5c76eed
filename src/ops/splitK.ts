// The second pass of split-K, deferred and batched: each token product (ops/lora.ts tokenProduct) writes its
// per-chunk partials into a slice of one scratch arena and queues a job; `flush` then reduces every queued job
// in ONE dispatch (splitk_reduce.wgsl walks a table of up to MAX_JOBS jobs). A training step keeps one
// reducer for its backward and flushes it after each block, so a layer's dA/dB partials (8 products with
// q, k, v, o adapted) cost one reduce instead of eight. The sums are taken in the same chunk order as one
// reduce per product would, so results are bit for bit those of the undeferred path.
// Whoever passes a reducer promises not to read the products' outputs before its `flush`.

import type { GpuContext } from '../gpu/context';
import { Tensor } from '../gpu/tensor';
import { grid1d } from './grid';
import reduceSrc from '../../shaders/splitk_reduce.wgsl?raw';
import { uniformStruct } from '../gpu/uniforms';

const JOB = uniformStruct(reduceSrc, 'Job'); // the uniform is array<Job, MAX_JOBS>

/** Jobs one reduce dispatch covers: the job table fills the 256-byte uniform slot (32 bytes a job). */
export const MAX_JOBS = 8;
/** Storage bindings start at multiples of 256 bytes, so each job's partials do too. */
const ALIGN_ELEMENTS = 64;
const WG = 64;

/** One product's reduce: out[g·outStride + j] (=|+=) alpha·Σ_z part[z, g, j], j < groupLen, g < count/groupLen. */
export interface ReduceJob {
  /** Partial chunks (z). */
  parts: number;
  /** Elements of one chunk's partial product (G groups × groupLen). */
  count: number;
  groupLen: number;
  outStride: number;
  alpha: number;
  accumulate: boolean;
}

interface Queued extends ReduceJob {
  partOffset: number;
  outOffset: number;
}

export class SplitKReduce {
  private arena: Tensor<'f32'> | null = null;
  private used = 0;
  private jobs: Queued[] = [];
  private out: GPUBuffer | null = null;

  /** `capacity`: elements of partials the arena holds at least (more jobs than fit are flushed early). */
  constructor(
    private readonly ctx: GpuContext,
    private readonly capacity = 0,
  ) {}

  /**
   * Returns the scratch view [parts, count] that the product writes its partials into, and queues its reduce
   * into `out`. Earlier jobs are flushed first when the table or the arena is full, or when they write
   * another buffer or with the other accumulate mode (one dispatch has one output binding and one mode).
   */
  partials(job: ReduceJob, out: Tensor<'f32'>): Tensor<'f32'> {
    const need = job.parts * job.count;
    if (need === 0) throw new Error('split-K reduce: empty product');
    const size = this.arena?.numel ?? 0;
    const first = this.jobs[0];
    const overflow = this.used + need > size;
    const full = this.jobs.length === MAX_JOBS || overflow;
    if (first && (full || this.out !== out.buffer || first.accumulate !== job.accumulate)) this.flush();
    if (overflow) {
      // Grow geometrically (the queued jobs were flushed), so a block's products soon fit one arena.
      this.arena?.release();
      this.arena = this.ctx.tensor([Math.max(need, 2 * size, this.capacity)]);
    }
    const partOffset = this.used;
    this.used = alignTo(this.used + need, ALIGN_ELEMENTS);
    this.out = out.buffer;
    this.jobs.push({ ...job, partOffset, outOffset: out.offset / 4 });
    return view(this.arena!, partOffset, [job.parts, job.count]);
  }

  /** Records one reduce dispatch for every queued job (none when nothing is queued). */
  flush(): void {
    if (this.jobs.length === 0) return;
    const table = new Uint8Array(MAX_JOBS * JOB.size);
    let end = 0;
    this.jobs.forEach((j, k) => {
      end += j.count;
      const job = { part_off: j.partOffset, parts: j.parts, count: j.count, group_len: j.groupLen };
      table.set(JOB.pack({ ...job, out_stride: j.outStride, out_off: j.outOffset, alpha: j.alpha, end }), k * JOB.size);
    });
    const { ctx } = this;
    ctx.dispatch(
      ctx.pipeline(reduceSrc, { ACCUMULATE: this.jobs[0].accumulate }),
      [this.arena!, { buffer: this.out! }, ctx.uniform(table)],
      grid1d(ctx, end, WG),
    );
    this.jobs = [];
    this.used = 0;
  }

  /** Flushes what is queued and returns the arena to the pool. */
  release(): void {
    this.flush();
    this.arena?.release();
    this.arena = null;
  }
}

function alignTo(n: number, a: number): number {
  return Math.ceil(n / a) * a;
}

/** A view of `shape` at element `offset` of `t` (an owned slice of the arena: releasing it does nothing). */
function view(t: Tensor<'f32'>, offset: number, shape: number[]): Tensor<'f32'> {
  return new Tensor(t.buffer, shape, 'f32', () => {}, t.offset + offset * 4);
}
