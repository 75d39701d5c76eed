// Float64 reference for rotary position embedding (the specification the GPU kernel is tested against).

export interface RopeRefOptions {
  T: number;
  nHeads: number;
  headDim: number;
  theta: number;
  /** 'half': pairs (j, j + d/2) (HF rotate-half). 'adjacent': pairs (2j, 2j + 1) (GGUF, llama2.c). */
  pairing: 'half' | 'adjacent';
  /** [headDim/2]: frequency j is divided by factor j (Llama-3 rope_freqs). */
  freqFactors?: ArrayLike<number>;
}

/** Each pair (a, b) of every head of token t becomes (a·cos θ − b·sin θ, b·cos θ + a·sin θ), θ = pos_t·freq_j. */
export function ropeRef(x: ArrayLike<number>, pos: ArrayLike<number>, o: RopeRefOptions): Float64Array {
  return rotateRef(x, pos, o, 1);
}

/** The transpose of the forward rotation: rotation by −θ. */
export function ropeBackwardRef(dy: ArrayLike<number>, pos: ArrayLike<number>, o: RopeRefOptions): Float64Array {
  return rotateRef(dy, pos, o, -1);
}

function rotateRef(x: ArrayLike<number>, pos: ArrayLike<number>, o: RopeRefOptions, sign: 1 | -1): Float64Array {
  const { T, nHeads, headDim: d } = o;
  const half = d / 2;
  const y = Float64Array.from({ length: T * nHeads * d }, (_, i) => x[i]);
  for (let t = 0; t < T; t++) {
    for (let h = 0; h < nHeads; h++) {
      const base = (t * nHeads + h) * d;
      for (let j = 0; j < half; j++) {
        const freq = o.theta ** ((-2 * j) / d) / (o.freqFactors ? o.freqFactors[j] : 1);
        const angle = sign * pos[t] * freq;
        const [i0, i1] = o.pairing === 'half' ? [base + j, base + j + half] : [base + 2 * j, base + 2 * j + 1];
        const a = x[i0];
        const b = x[i1];
        y[i0] = a * Math.cos(angle) - b * Math.sin(angle);
        y[i1] = b * Math.cos(angle) + a * Math.sin(angle);
      }
    }
  }
  return y;
}
