// Tokenizers embedded in GGUF metadata, ported from llama.cpp (src/llama-vocab.cpp) so that token ids match:
// - 'llama': SentencePiece BPE by piece scores (llm_tokenizer_spm): spaces become '▁', a space is prefixed to
//   the text, adjacent symbols merge highest score first, leftovers fall back to <0xNN> byte tokens.
// - 'gpt2': byte-level BPE (llm_tokenizer_bpe): a pre-tokenizer regex chosen by tokenizer.ggml.pre splits the
//   text into words, each word's UTF-8 bytes map to printable characters (GPT-2's bytes_to_unicode) and merge
//   by the rank of tokenizer.ggml.merges. SmolLM, Llama 3 and Qwen2 GGUFs use it.
// Control and user-defined tokens written in the text (e.g. "<|im_start|>") become their ids, as llama.cpp
// does with parse_special; control tokens only when `special` is asked for.

import { mergeSymbols } from './bpeMerge';
import type { GgufValue } from './gguf';
import type { Tokenizer } from './tokenizer';

export class TokenizerError extends Error {
  override name = 'TokenizerError';
}

/** tokenizer.ggml.token_type values. */
const NORMAL = 1;
const UNKNOWN = 2;
const CONTROL = 3;
const USER_DEFINED = 4;
const BYTE = 6;

const GPT2 = "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)";
const LLAMA3 =
  "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}|" +
  ' ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+';
const QWEN2 =
  "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}|" +
  ' ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+';
/**
 * Pre-tokenizers by tokenizer.ggml.pre, as llama.cpp's llm_tokenizer_bpe: each regex in turn splits every
 * piece into its matches and the text between them. A missing key means llama.cpp's default set.
 */
const PRE_TOKENIZERS: Record<string, string[]> = {
  default: ['[\\p{P}\\$\\+<=>\\^~\\|]+', GPT2, '\\p{N}+', '[0-9][0-9][0-9]'],
  gpt2: [GPT2],
  'gpt-2': [GPT2],
  mpt: [GPT2],
  olmo: [GPT2],
  jais: [GPT2],
  'llama-bpe': [LLAMA3],
  llama3: [LLAMA3],
  dbrx: [LLAMA3],
  smaug: [LLAMA3],
  smollm: ['\\p{N}', GPT2],
  starcoder: ['\\p{N}', GPT2],
  refact: ['\\p{N}', GPT2],
  'command-r': ['\\p{N}', GPT2],
  qwen2: [QWEN2],
  stablelm2: [QWEN2],
};

interface Vocab {
  tokens: string[];
  types: ArrayLike<number>;
  ids: Map<string, number>;
  bosId: number | null;
  eosId: number | null;
  unkId: number | null;
  addBos: boolean;
  /** Control (when parsing special tokens) and user-defined token texts, longest first. */
  specials: { text: string; id: number; control: boolean }[];
}

/** The tokenizer a GGUF file's metadata describes, or null when it has none. */
export function tokenizerFromGguf(meta: Map<string, GgufValue>): GgufTokenizer | null {
  const model = meta.get('tokenizer.ggml.model');
  if (model === undefined) return null;
  if (model !== 'llama' && model !== 'gpt2') {
    throw new TokenizerError(`GGUF tokenizer model "${String(model)}" is not supported (supported: llama, gpt2).`);
  }
  const tokens = meta.get('tokenizer.ggml.tokens');
  if (!Array.isArray(tokens) || tokens.some((t) => typeof t !== 'string')) {
    throw new TokenizerError('GGUF tokenizer: tokenizer.ggml.tokens is missing or not a list of strings.');
  }
  const n = tokens.length;
  const list = (key: string): ArrayLike<number> | null => {
    const v = meta.get(key) as ArrayLike<number> | undefined;
    if (v === undefined) return null;
    if (typeof v !== 'object' || v.length !== n)
      throw new TokenizerError(`GGUF tokenizer: ${key} does not have ${n} entries.`);
    return v;
  };
  const id = (key: string): number | null => {
    const v = meta.get(key);
    return typeof v === 'number' && Number.isInteger(v) && v >= 0 && v < n ? v : null;
  };
  const types = list('tokenizer.ggml.token_type') ?? new Uint8Array(n).fill(NORMAL);
  const ids = new Map<string, number>();
  (tokens as string[]).forEach((t, i) => ids.set(t, i)); // the last of duplicates wins, as in llama.cpp
  const specials = (tokens as string[])
    .flatMap((text, i) =>
      (types[i] === CONTROL || types[i] === USER_DEFINED) && text
        ? [{ text, id: i, control: types[i] === CONTROL }]
        : [],
    )
    .sort((a, b) => b.text.length - a.text.length);
  const flag = (key: string, dflt: boolean) => (typeof meta.get(key) === 'boolean' ? (meta.get(key) as boolean) : dflt);
  const base = {
    tokens: tokens as string[],
    types,
    ids,
    specials,
    bosId: id('tokenizer.ggml.bos_token_id'),
    eosId: id('tokenizer.ggml.eos_token_id'),
    unkId: id('tokenizer.ggml.unknown_token_id'),
  };
  if (model === 'llama') {
    const scores = list('tokenizer.ggml.scores');
    if (!scores)
      throw new TokenizerError('GGUF tokenizer: a SentencePiece ("llama") vocabulary needs tokenizer.ggml.scores.');
    const vocab = { ...base, addBos: flag('tokenizer.ggml.add_bos_token', true) };
    return new SpmTokenizer(vocab, scores, flag('tokenizer.ggml.add_space_prefix', true));
  }
  // 'gpt2': byte-level BPE.
  const merges = meta.get('tokenizer.ggml.merges');
  if (!Array.isArray(merges))
    throw new TokenizerError('GGUF tokenizer: a BPE ("gpt2") vocabulary needs tokenizer.ggml.merges.');
  const pre = String(meta.get('tokenizer.ggml.pre') ?? 'default');
  const regexes = PRE_TOKENIZERS[pre];
  if (!regexes) {
    throw new TokenizerError(
      `GGUF tokenizer: pre-tokenizer "${pre}" is not supported (supported: ${Object.keys(PRE_TOKENIZERS).join(', ')}).`,
    );
  }
  return new BpeTokenizer(
    { ...base, addBos: flag('tokenizer.ggml.add_bos_token', false) },
    merges as string[],
    regexes,
  );
}

/** Text split into raw pieces and the ids of special tokens written in it. */
function splitSpecial(text: string, v: Vocab, special: boolean): (string | number)[] {
  const out: (string | number)[] = [];
  let start = 0;
  let i = 0;
  while (i < text.length) {
    const hit = v.specials.find((s) => (special || !s.control) && text.startsWith(s.text, i));
    if (!hit) {
      i++;
      continue;
    }
    if (i > start) out.push(text.slice(start, i));
    out.push(hit.id);
    i += hit.text.length;
    start = i;
  }
  if (start < text.length) out.push(text.slice(start));
  return out;
}

export abstract class GgufTokenizer implements Tokenizer {
  constructor(protected v: Vocab) {}

  get vocabSize(): number {
    return this.v.tokens.length;
  }

  get bosId(): number | null {
    return this.v.bosId;
  }

  get eosId(): number | null {
    return this.v.eosId;
  }

  /**
   * BOS is added by default when the model asks for it (tokenizer.ggml.add_bos_token); `special` reads
   * control tokens written in the text as their ids (user-defined ones always are).
   */
  encode(text: string, opts: { bos?: boolean; special?: boolean } = {}): number[] {
    const out: number[] = [];
    if ((opts.bos ?? this.v.addBos) && this.v.bosId !== null) out.push(this.v.bosId);
    let prevSpecial = true;
    for (const f of splitSpecial(text, this.v, opts.special ?? false)) {
      if (typeof f === 'number') out.push(f);
      else for (const id of this.encodeText(f, prevSpecial)) out.push(id); // push(...ids) overflows the stack on long texts
      prevSpecial = typeof f === 'number';
    }
    return out;
  }

  decode(ids: number[]): string {
    const bytes: number[] = [];
    const enc = new TextEncoder();
    for (const id of ids) {
      const type = this.v.types[id];
      const text = this.v.tokens[id];
      if (text === undefined || type === CONTROL || type === UNKNOWN) continue;
      if (type === USER_DEFINED) bytes.push(...enc.encode(text));
      else bytes.push(...this.pieceBytes(text, type));
    }
    return this.finish(new TextDecoder().decode(Uint8Array.from(bytes)));
  }

  protected abstract encodeText(text: string, afterSpecial: boolean): number[];
  /** The bytes a normal (or byte) token stands for. */
  protected abstract pieceBytes(text: string, type: number): Iterable<number>;
  protected finish(text: string): string {
    return text;
  }
}

class SpmTokenizer extends GgufTokenizer {
  constructor(
    v: Vocab,
    private scores: ArrayLike<number>,
    private addSpacePrefix: boolean,
  ) {
    super(v);
  }

  protected encodeText(text: string, afterSpecial: boolean): number[] {
    const escaped = ((this.addSpacePrefix && afterSpecial ? ' ' : '') + text).replaceAll(' ', '▁');
    // Higher score merges first: negate it for the min-first merge order.
    const symbols = mergeSymbols([...escaped], (l, r) => {
      const id = this.v.ids.get(l + r);
      return id === undefined ? null : { symbol: l + r, priority: -this.scores[id] };
    });
    return symbols.flatMap((s) => {
      const id = this.v.ids.get(s);
      if (id !== undefined) return [id];
      return [...new TextEncoder().encode(s)].map((b) => {
        const byteId = this.v.ids.get(`<0x${b.toString(16).toUpperCase().padStart(2, '0')}>`) ?? this.v.unkId;
        if (byteId === null)
          throw new TokenizerError(`GGUF tokenizer: no token for byte 0x${b.toString(16)} and no unknown token.`);
        return byteId;
      });
    });
  }

  protected pieceBytes(text: string, type: number): Iterable<number> {
    const byte = type === BYTE ? /^<0x([0-9A-Fa-f]{2})>$/.exec(text) : null;
    return byte ? [parseInt(byte[1], 16)] : new TextEncoder().encode(text.replaceAll('▁', ' '));
  }

  /** The prefixed space is not part of the text (SentencePiece drops it when decoding). */
  protected override finish(text: string): string {
    return this.addSpacePrefix && text.startsWith(' ') ? text.slice(1) : text;
  }
}

/** GPT-2's reversible byte ↔ character map: printable bytes stand for themselves, the rest shift past 255. */
function bytesToUnicode(): string[] {
  const map: string[] = new Array(256);
  let shifted = 0;
  for (let b = 0; b < 256; b++) {
    const printable = (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174 && b <= 255);
    map[b] = String.fromCharCode(printable ? b : 256 + shifted++);
  }
  return map;
}

class BpeTokenizer extends GgufTokenizer {
  private ranks = new Map<string, number>();
  private byteChar = bytesToUnicode();
  private charByte = new Map(this.byteChar.map((c, b) => [c, b]));
  private regexes: RegExp[];

  constructor(v: Vocab, merges: string[], regexes: string[]) {
    super(v);
    merges.forEach((m, rank) => this.ranks.set(m, rank));
    this.regexes = regexes.map((r) => new RegExp(r, 'gu'));
  }

  protected encodeText(text: string): number[] {
    let words = [text];
    for (const re of this.regexes) words = words.flatMap((w) => splitKeeping(w, re));
    const enc = new TextEncoder();
    return words.flatMap((w) => {
      const chars = [...enc.encode(w)].map((b) => this.byteChar[b]);
      const symbols = mergeSymbols(chars, (l, r) => {
        const rank = this.ranks.get(`${l} ${r}`);
        return rank === undefined ? null : { symbol: l + r, priority: rank };
      });
      // A merged word missing from the vocabulary (a broken file) falls back to its characters.
      return symbols.flatMap((s) =>
        this.v.ids.has(s) ? [this.v.ids.get(s)!] : [...s].flatMap((c) => this.v.ids.get(c) ?? []),
      );
    });
  }

  protected pieceBytes(text: string): Iterable<number> {
    return [...text].flatMap((c) => this.charByte.get(c) ?? [...new TextEncoder().encode(c)]);
  }
}

/** The matches of `re` in `text` and the text between them, in order (llama.cpp's unicode_regex_split). */
function splitKeeping(text: string, re: RegExp): string[] {
  const out: string[] = [];
  let last = 0;
  for (const m of text.matchAll(re)) {
    if (m[0] === '') continue;
    if (m.index > last) out.push(text.slice(last, m.index));
    out.push(m[0]);
    last = m.index + m[0].length;
  }
  if (last < text.length) out.push(text.slice(last));
  return out;
}
