// Hugging Face tokenizers: tokenizer.json (the model: BPE, Unigram, WordPiece, with its normalizer,
// pre-tokenizer and decoder) run by @huggingface/tokenizers, plus tokenizer_config.json for the special
// tokens, whether BOS is prepended, and the chat template.

import { Tokenizer as HfTokenizerImpl } from '@huggingface/tokenizers';
import type { Tokenizer } from './tokenizer';

type Json = Record<string, unknown>;

export class HfTokenizerError extends Error {
  override name = 'HfTokenizerError';
}

/** Ids from config.json (bos_token_id, eos_token_id), used when tokenizer_config.json names no token. */
export interface SpecialIdFallbacks {
  bosId?: number | null;
  eosId?: number | null;
}

export class HfTokenizer implements Tokenizer {
  readonly vocabSize: number;
  readonly bosId: number | null;
  readonly eosId: number | null;
  readonly bosToken: string | null;
  readonly eosToken: string | null;
  /** Whether encode prepends BOS: tokenizer_config's add_bos_token, else what the post-processor does. */
  readonly addBos: boolean;
  private readonly impl: HfTokenizerImpl;

  constructor(tokenizerJson: Json, tokenizerConfig: Json = {}, fallbacks: SpecialIdFallbacks = {}) {
    checkTokenIds(tokenizerJson);
    this.impl = library('is not a tokenizer we can run', () => new HfTokenizerImpl(tokenizerJson, tokenizerConfig));
    let maxId = -1; // a loop, not Math.max(...ids): 150k arguments overflow the stack
    for (const id of this.impl.get_vocab(true).values()) maxId = Math.max(maxId, id);
    this.vocabSize = maxId + 1;
    const bos = this.special(tokenizerConfig.bos_token, fallbacks.bosId);
    const eos = this.special(tokenizerConfig.eos_token, fallbacks.eosId);
    [this.bosToken, this.bosId] = bos;
    [this.eosToken, this.eosId] = eos;
    const configured = tokenizerConfig.add_bos_token;
    // Without the flag, HF's own behaviour is the post-processor's (TemplateProcessing adds <s> for
    // Llama 2 and TinyLlama, <|begin_of_text|> for Llama 3; SmolLM2's and Qwen2's add nothing).
    this.addBos =
      this.bosId !== null &&
      (typeof configured === 'boolean'
        ? configured
        : library('cannot encode', () => this.impl.encode('', { add_special_tokens: true })).ids[0] === this.bosId);
  }

  encode(text: string, opts: { bos?: boolean } = {}): number[] {
    const ids = library('cannot encode', () => this.impl.encode(text, { add_special_tokens: false })).ids;
    return (opts.bos ?? true) && this.addBos && this.bosId !== null ? [this.bosId, ...ids] : ids;
  }

  decode(ids: number[]): string {
    return library('cannot decode', () => this.impl.decode(ids, { skip_special_tokens: true }));
  }

  /** A special token named in tokenizer_config.json (a string or an AddedToken object) as [text, id]. */
  private special(entry: unknown, fallbackId: number | null | undefined): [string | null, number | null] {
    const text =
      typeof entry === 'string'
        ? entry
        : entry && typeof entry === 'object' && typeof (entry as Json).content === 'string'
          ? ((entry as Json).content as string)
          : null;
    if (text !== null) {
      const id = this.impl.token_to_id(text);
      if (id === undefined)
        throw new HfTokenizerError(`special token ${JSON.stringify(text)} is not in tokenizer.json's vocabulary.`);
      return [text, id];
    }
    if (typeof fallbackId !== 'number') return [null, null];
    if (!Number.isSafeInteger(fallbackId) || fallbackId < 0 || fallbackId >= this.vocabSize) {
      throw new HfTokenizerError(
        `config.json names token id ${fallbackId}, which is not in tokenizer.json's ${this.vocabSize} ids.`,
      );
    }
    return [this.impl.id_to_token(fallbackId) ?? null, fallbackId];
  }
}

/**
 * Runs a call into @huggingface/tokenizers, which trusts its input: a malformed tokenizer.json (a post-processor
 * of the wrong shape, say) surfaces there as a TypeError from deep inside. It becomes an HfTokenizerError.
 */
function library<T>(what: string, call: () => T): T {
  try {
    return call();
  } catch (e) {
    throw new HfTokenizerError(`tokenizer.json ${what}: ${(e as Error).message}`);
  }
}

/**
 * The ids tokenizer.json assigns (model.vocab for BPE/WordPiece, added_tokens) must be integers ≥ 0 within the
 * vocabulary's size: the library stores them as given, so `false` would come back as a token id and 10⁹ would
 * become a billion-entry table.
 */
function checkTokenIds(json: Json): void {
  const vocab = (json.model as Json | undefined)?.vocab;
  const added = json.added_tokens ?? [];
  if (!Array.isArray(added)) throw new HfTokenizerError('tokenizer.json: added_tokens is not a list.');
  const ids: [unknown, unknown][] = added.map((t: Json | null) => [t?.content, t?.id]);
  if (vocab && typeof vocab === 'object' && !Array.isArray(vocab)) ids.push(...Object.entries(vocab));
  const limit = 2 * (ids.length + (Array.isArray(vocab) ? vocab.length : 0)) + 256;
  for (const [token, id] of ids) {
    if (!Number.isSafeInteger(id) || (id as number) < 0 || (id as number) >= limit) {
      throw new HfTokenizerError(
        `tokenizer.json gives token ${JSON.stringify(token)} the id ${JSON.stringify(id)}; ` +
          `ids are integers from 0 to about the vocabulary's size (${ids.length} entries).`,
      );
    }
  }
}

/**
 * The chat template source: chat_template.jinja when the folder has one (newer transformers save it there),
 * else tokenizer_config.json's chat_template (a string, or a list of named templates of which "default").
 */
export function chatTemplateSource(tokenizerConfig: Json, jinjaFile?: string): string | undefined {
  if (jinjaFile !== undefined) return jinjaFile;
  const t = tokenizerConfig.chat_template;
  if (typeof t === 'string') return t;
  if (Array.isArray(t)) {
    const named = t as ({ name?: unknown; template?: unknown } | null)[];
    const dflt = named.find((x) => x?.name === 'default') ?? named[0];
    if (typeof dflt?.template === 'string') return dflt.template;
  }
  return undefined;
}
