// Random-access byte sources. Model files are read piece by piece (header, then tensor by tensor), never
// as one ArrayBuffer: browsers cap ArrayBuffers well below the size of a 1B-parameter model.

export interface ByteSource {
  readonly name: string;
  readonly size: number;
  /** Exactly `length` bytes at `offset`; throws when the range runs past the end. */
  read(offset: number, length: number): Promise<Uint8Array>;
  close?(): Promise<void>;
}

export class SourceRangeError extends Error {
  override name = 'SourceRangeError';
}

function checkRange(src: { name: string; size: number }, offset: number, length: number): void {
  if (offset < 0 || length < 0 || offset + length > src.size) {
    throw new SourceRangeError(
      `${src.name}: read of ${length} bytes at offset ${offset} runs past the end of the ` +
        `file (${src.size} bytes); the file is truncated or its header is wrong.`,
    );
  }
}

/** A Blob or File (browser, or Node ≥ 20 via fs.openAsBlob). */
export function blobSource(blob: Blob, name = (blob as File).name ?? 'blob'): ByteSource {
  return {
    name,
    size: blob.size,
    async read(offset, length) {
      checkRange(this, offset, length);
      return new Uint8Array(await blob.slice(offset, offset + length).arrayBuffer());
    },
  };
}

/** Bytes already in memory (tests, small files). */
export function memorySource(bytes: Uint8Array, name = 'memory'): ByteSource {
  return {
    name,
    size: bytes.byteLength,
    async read(offset, length) {
      checkRange(this, offset, length);
      return bytes.subarray(offset, offset + length);
    },
  };
}

/** A file on disk, read with positioned reads (Node only). */
export async function fileSource(path: string): Promise<ByteSource> {
  const fsName = 'node:fs/promises';
  const fs: typeof import('node:fs/promises') = await import(/* @vite-ignore */ fsName);
  const handle = await fs.open(path, 'r');
  const { size } = await handle.stat();
  const source: ByteSource = {
    name: path,
    size,
    async read(offset, length) {
      checkRange(source, offset, length);
      const out = new Uint8Array(length);
      let done = 0;
      while (done < length) {
        const { bytesRead } = await handle.read(out, done, length - done, offset + done);
        if (bytesRead === 0) throw new SourceRangeError(`${path}: unexpected end of file at ${offset + done}`);
        done += bytesRead;
      }
      return out;
    },
    close: () => handle.close(),
  };
  return source;
}
