// linear_common: parameters, weight/output bindings and the guarded store shared by the linear kernels
// (appended to each). Binding 0, the f32 input (x or dy), is declared by each kernel with the element type
// it reads best (f32 or vec4).

override ACCUMULATE: bool = false; // OUT += alpha·product (the model sums paths into one activation)

const TN: u32 = 8u; // output columns per invocation
const WG_X: u32 = 8u; // invocations along the output columns
const WG_Y: u32 = 8u; // invocations along tokens

// T tokens; W is N×K (rows × columns) in GGML layout, each row `row_bytes` long.
struct Params {
  T: u32, N: u32, K: u32, alpha: f32,
  row_bytes: u32, _pad0: u32, _pad1: u32, _pad2: u32,
}

@group(0) @binding(1) var<storage, read> W: array<u32>;
@group(0) @binding(2) var<storage, read_write> OUT: array<f32>;
@group(0) @binding(3) var<uniform> p: Params;

// The words at four byte-offset-derived indices: one per output column of a 4-wide group.
fn gather(i: vec4<u32>) -> vec4<u32> {
  return vec4<u32>(W[i.x], W[i.y], W[i.z], W[i.w]);
}

// Row t, columns c..c+7 of OUT (width columns wide): alpha·(lo ‖ hi), stored or added, inside the bounds.
fn store_row(t: u32, c: u32, width: u32, lo: vec4<f32>, hi: vec4<f32>) {
  if (t >= p.T) { return; }
  let v = array<f32, 8>(lo.x, lo.y, lo.z, lo.w, hi.x, hi.y, hi.z, hi.w);
  for (var j = 0u; j < TN; j++) {
    if (c + j < width) {
      let e = t * width + c + j;
      if (ACCUMULATE) { OUT[e] += p.alpha * v[j]; } else { OUT[e] = p.alpha * v[j]; }
    }
  }
}
