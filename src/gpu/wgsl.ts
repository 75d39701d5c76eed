// WGSL has no #include. Kernels that share declarations (sizes, parameter structs, decode helpers) keep them
// in shaders/lib/*.wgsl, and the op module appends those texts to the kernel's once, at module load: the
// result is a constant string, so the pipeline cache sees one source per kernel. The kernel comes first, so
// its opening comment still names the pipeline.

export function withLib(kernel: string, ...libs: string[]): string {
  return [kernel, ...libs].join('\n');
}
