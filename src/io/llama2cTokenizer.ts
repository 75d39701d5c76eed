// llama2.c's SentencePiece-style BPE over a scored vocabulary (tokenizer.bin): encode by greedy merges of the
// highest-scoring adjacent pair, with a dummy-prefix space and byte fallback (<0xXX> pieces at ids 3..258).
// A faithful port of run.c's encode/decode, so token ids match llama2.c and llama.cpp on the same vocabulary;
// only the merge loop is faster (bpeMerge.ts: O(n log n) instead of run.c's rescan after every merge).

import { mergeSymbols } from './bpeMerge';
import type { Llama2cTokenizer } from './llama2c';
import type { Tokenizer } from './tokenizer';

export const BOS = 1;
export const EOS = 2;

export class ScoredBpeTokenizer implements Tokenizer {
  private ids = new Map<string, number>();
  readonly bosId = BOS;
  readonly eosId = EOS;

  get vocabSize(): number {
    return this.vocab.pieces.length;
  }

  constructor(private vocab: Llama2cTokenizer) {
    vocab.pieces.forEach((p, i) => {
      if (!this.ids.has(p)) this.ids.set(p, i);
    });
  }

  encode(text: string, opts: { bos?: boolean } = {}): number[] {
    const symbols: number[] = [];
    const utf8 = new TextEncoder();
    if (text !== '') {
      const dummy = this.ids.get(' ');
      if (dummy !== undefined) symbols.push(dummy);
    }
    for (const ch of text) {
      const id = this.ids.get(ch);
      if (id !== undefined) symbols.push(id);
      else for (const b of utf8.encode(ch)) symbols.push(b + 3);
    }
    // run.c merges the best-scoring pair (leftmost among equals, and only above -1e10) until none is in the
    // vocabulary; mergeSymbols does the same in O(n log n). BOS never merges.
    const { pieces, scores } = this.vocab;
    const tokens = mergeSymbols(symbols, (l, r) => {
      const id = this.ids.get(pieces[l] + pieces[r]);
      return id !== undefined && scores[id] > -1e10 ? { symbol: id, priority: -scores[id] } : null;
    });
    return (opts.bos ?? true) ? [BOS, ...tokens] : tokens;
  }

  /** The text of `token` following `prev` (the leading space after BOS is dropped, byte pieces become bytes). */
  piece(prev: number, token: number): string {
    let p = this.vocab.pieces[token] ?? '';
    if (prev === BOS && p.startsWith(' ')) p = p.slice(1);
    const byte = /^<0x([0-9A-Fa-f]{2})>$/.exec(p);
    return byte ? String.fromCharCode(parseInt(byte[1], 16)) : p;
  }

  decode(tokens: number[]): string {
    let out = '';
    for (let i = 0; i < tokens.length; i++) {
      if (tokens[i] === BOS || tokens[i] === EOS) continue;
      out += this.piece(i ? tokens[i - 1] : BOS, tokens[i]);
    }
    return out;
  }
}
