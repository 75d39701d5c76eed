// What the user picked (a preset, a Hub repository, local files) → the ModelFiles the loader reads. Presets
// and repositories are downloaded into the model cache with progress (a second load is offline); local files
// are read in place through Blob slices, never copied whole into memory.

import { type ByteSource, blobSource } from '../io/byteSource';
import { downloadModel, type DownloadProgress } from '../io/hub';
import type { ModelCache } from '../io/modelCache';
import type { ModelFiles } from '../model/load';
import { PRESETS } from '../model/presets';
import type { ModelSource } from './protocol';

export class ModelSourceError extends Error {
  override name = 'ModelSourceError';
}

export interface ResolveOptions {
  cache: () => ModelCache;
  /** Hub base URL (a mirror, or a test server); huggingface.co by default. */
  endpoint?: string;
  onProgress?: (p: DownloadProgress) => void;
}

export interface ResolvedModel {
  label: string;
  files: ModelFiles;
}

const baseName = (path: string) => path.slice(path.lastIndexOf('/') + 1);

/** A Hub download's files as ModelFiles: a single .gguf, a llama2.c pair, or a Hugging Face folder. */
function fromDownloaded(files: Map<string, ByteSource>): ModelFiles {
  const byBase = new Map([...files].map(([path, src]) => [baseName(path), src]));
  const gguf = [...byBase.keys()].find((n) => n.endsWith('.gguf'));
  if (gguf) return { kind: 'gguf', file: byBase.get(gguf)! };
  if (byBase.has('config.json')) return { kind: 'hf', files: byBase };
  const bins = [...byBase.keys()].filter((n) => n.endsWith('.bin'));
  const tok = bins.find((n) => /^tok/.test(n));
  const model = bins.find((n) => n !== tok);
  if (model) return { kind: 'llama2c', file: byBase.get(model)!, tokenizer: tok ? byBase.get(tok) : undefined };
  throw new ModelSourceError(`The download holds no model files this app reads (${[...byBase.keys()].join(', ')}).`);
}

/** Local files: recognised by name; the GGUF magic is checked by the reader itself. */
export function fromLocalFiles(picked: readonly File[]): ResolvedModel {
  if (picked.length === 0) throw new ModelSourceError('No files chosen.');
  const names = picked.map((f) => f.name);
  const ggufs = picked.filter((f) => f.name.endsWith('.gguf'));
  if (ggufs.length > 1)
    throw new ModelSourceError(`Choose one .gguf file, not ${ggufs.length} (${ggufs.map((f) => f.name).join(', ')}).`);
  if (ggufs.length === 1) return { label: ggufs[0].name, files: { kind: 'gguf', file: blobSource(ggufs[0]) } };
  if (picked.some((f) => f.name.endsWith('.safetensors'))) {
    if (!names.includes('config.json')) {
      throw new ModelSourceError('A safetensors model needs its config.json (and tokenizer.json) chosen with it.');
    }
    const files = new Map(picked.map((f) => [f.name, blobSource(f)]));
    const weights = picked.find((f) => f.name.endsWith('.safetensors'))!;
    return { label: `${weights.name} + config.json`, files: { kind: 'hf', files } };
  }
  const bins = picked.filter((f) => f.name.endsWith('.bin'));
  if (bins.length > 0) {
    const tok = bins.find((f) => /^tok/.test(f.name) && bins.length > 1);
    const model = bins.find((f) => f !== tok)!;
    return {
      label: model.name,
      files: { kind: 'llama2c', file: blobSource(model), tokenizer: tok ? blobSource(tok) : undefined },
    };
  }
  throw new ModelSourceError(
    `Not a model this app reads: ${names.join(', ')}. Choose a .gguf file, a llama2.c .bin ` +
      'with its tokenizer .bin, or config.json + .safetensors + tokenizer.json.',
  );
}

export async function resolveModelSource(source: ModelSource, o: ResolveOptions): Promise<ResolvedModel> {
  switch (source.kind) {
    case 'files':
      return fromLocalFiles(source.files);
    case 'preset': {
      const preset = PRESETS.find((p) => p.id === source.presetId);
      if (!preset) throw new ModelSourceError(`Unknown preset "${source.presetId}".`);
      const got = await downloadModel(preset.repo, {
        cache: o.cache(),
        revision: preset.revision,
        files: preset.files,
        endpoint: o.endpoint,
        onProgress: o.onProgress,
      });
      return { label: preset.label, files: fromDownloaded(got.files) };
    }
    case 'hub': {
      const got = await downloadModel(source.repo.trim(), {
        cache: o.cache(),
        revision: source.revision,
        endpoint: o.endpoint,
        onProgress: o.onProgress,
      });
      return { label: source.repo.trim(), files: fromDownloaded(got.files) };
    }
  }
}
