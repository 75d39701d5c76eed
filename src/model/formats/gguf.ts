// GGUF → model description: configuration and tokenizer from the metadata, tensors in place in the file.

import type { ByteSource } from '../../io/byteSource';
import { type GgufFile, readGguf } from '../../io/gguf';
import { tokenizerFromGguf } from '../../io/ggufTokenizer';
import { UnsupportedModelError, configFromGguf } from '../config';
import type { ModelDescription } from '../load';
import { type StoredDtype, fileTensor } from '../tensorSource';

export async function describeGguf(file: ByteSource): Promise<ModelDescription & { gguf: GgufFile }> {
  const gguf = await readGguf(file);
  const embed = gguf.tensors.find((t) => t.name === 'token_embd.weight');
  if (!embed)
    throw new UnsupportedModelError(`${file.name}: no token_embd.weight tensor; not a LLaMA-family language model.`);
  const config = configFromGguf(
    gguf.metadata,
    gguf.tensors.map((t) => t.name),
    embed.shape[0],
  );
  const tensors = gguf.tensors.map((t) =>
    fileTensor(file, t.name, t.shape, t.type.name as StoredDtype, t.offset, t.byteLength),
  );
  const name = String(gguf.metadata.get('general.name') ?? file.name);
  return { name, config, tensors, tokenizer: tokenizerFromGguf(gguf.metadata), gguf };
}
