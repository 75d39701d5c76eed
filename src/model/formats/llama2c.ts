// llama2.c checkpoint (+ tokenizer.bin) → model description.

import type { ByteSource } from '../../io/byteSource';
import { readLlama2c, readLlama2cTokenizer } from '../../io/llama2c';
import { ScoredBpeTokenizer } from '../../io/llama2cTokenizer';
import { configFromLlama2c } from '../config';
import type { ModelDescription } from '../load';
import { fileTensor } from '../tensorSource';

export async function describeLlama2c(file: ByteSource, tokenizer?: ByteSource): Promise<ModelDescription> {
  const { header, tensors } = await readLlama2c(file);
  const config = configFromLlama2c(header);
  return {
    name: file.name,
    config,
    tensors: tensors.map((t) => fileTensor(file, t.name, t.shape, 'F32', t.offset, t.byteLength)),
    tokenizer: tokenizer ? new ScoredBpeTokenizer(await readLlama2cTokenizer(tokenizer, config.vocabSize)) : null,
  };
}
