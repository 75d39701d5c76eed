// Bind groups reused across dispatches. Creating one costs API and validation time on every dispatch, and a
// training step binds the same pooled buffers, at the same offsets, to the same pipelines step after step
// (the pool hands buffers out in a deterministic order), so after the first iteration nearly every dispatch
// finds its bind group here.
//
// Keyed by the pipeline and the exact (buffer, offset, size) of every binding. Uniforms come from one arena
// buffer at a per-dispatch slot offset, which is part of the key; the uniform *data* is not, as a bind group
// names a byte range, not its contents. Buffers are identified by object (a destroyed buffer's entries are
// dropped when the pool destroys it, and a new buffer never matches an old key); at most MAX_ENTRIES are kept,
// least recently used dropped first, so shapes that never repeat cannot grow the cache without bound.

/** A few iterations' worth of distinct bindings: a 30-layer MeTA-LoRA iteration has ~22k dispatches. */
const MAX_ENTRIES = 1 << 16;

interface Entry {
  /** null: seen in a dry run only, created on first real use. */
  group: GPUBindGroup | null;
  buffers: GPUBuffer[];
}

export class BindGroupCache {
  private entries = new Map<string, Entry>();
  private keysOfBuffer = new Map<GPUBuffer, Set<string>>();
  private ids = new WeakMap<object, number>();
  private nextId = 1;

  constructor(
    private device: GPUDevice,
    private maxEntries = MAX_ENTRIES,
  ) {}

  get size(): number {
    return this.entries.size;
  }

  /**
   * The bind group of `pipeline` with `bindings` at @group(0) @binding(0..n-1), and whether it was created
   * now. In a dry run (`create` false) nothing is created; a binding set not seen before is remembered and
   * reported as created, so a dry run counts what a real run would create.
   */
  get(
    pipeline: GPUComputePipeline,
    bindings: GPUBufferBinding[],
    create: boolean,
  ): { group: GPUBindGroup | null; created: boolean } {
    const key = this.keyOf(pipeline, bindings);
    const entry = this.entries.get(key);
    if (entry) {
      // Map order is insertion order: re-inserting marks the entry most recently used.
      this.entries.delete(key);
      this.entries.set(key, entry);
      if (entry.group || !create) return { group: entry.group, created: false };
      entry.group = this.createGroup(pipeline, bindings);
      return { group: entry.group, created: true };
    }
    const group = create ? this.createGroup(pipeline, bindings) : null;
    this.insert(key, { group, buffers: bindings.map((b) => b.buffer) });
    return { group, created: true };
  }

  /** Drops every bind group that binds `buffer` (called as the buffer is destroyed). */
  forget(buffer: GPUBuffer): void {
    for (const key of this.keysOfBuffer.get(buffer) ?? []) this.remove(key);
    this.keysOfBuffer.delete(buffer);
  }

  private createGroup(pipeline: GPUComputePipeline, bindings: GPUBufferBinding[]): GPUBindGroup {
    return this.device.createBindGroup({
      layout: pipeline.getBindGroupLayout(0),
      entries: bindings.map((resource, binding) => ({ binding, resource })),
    });
  }

  private insert(key: string, entry: Entry): void {
    this.entries.set(key, entry);
    for (const b of entry.buffers) {
      let keys = this.keysOfBuffer.get(b);
      if (!keys) this.keysOfBuffer.set(b, (keys = new Set()));
      keys.add(key);
    }
    if (this.entries.size > this.maxEntries) this.remove(this.entries.keys().next().value!);
  }

  private remove(key: string): void {
    const entry = this.entries.get(key);
    if (!entry) return;
    this.entries.delete(key);
    for (const b of entry.buffers) {
      const keys = this.keysOfBuffer.get(b);
      keys?.delete(key);
      if (keys?.size === 0) this.keysOfBuffer.delete(b);
    }
  }

  private keyOf(pipeline: GPUComputePipeline, bindings: GPUBufferBinding[]): string {
    let key = `${this.idOf(pipeline)}`;
    for (const b of bindings) key += `|${this.idOf(b.buffer)}:${b.offset ?? 0}:${b.size ?? -1}`;
    return key;
  }

  private idOf(o: object): number {
    let id = this.ids.get(o);
    if (id === undefined) this.ids.set(o, (id = this.nextId++));
    return id;
  }
}
