// llama2.c's SentencePiece-style BPE over a scored vocabulary (tokenizer.bin): encode by greedy merges of the
// highest-scoring adjacent pair, with a dummy-prefix space and byte fallback (<0xXX> pieces at ids 3..258).
// A faithful port of run.c's encode/decode, so token ids match llama2.c and llama.cpp on the same vocabulary.

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
    const bos = opts.bos ?? true;
    const tokens: number[] = [];
    if (bos) tokens.push(BOS);
    if (text !== '') {
      const dummy = this.ids.get(' ');
      if (dummy !== undefined) tokens.push(dummy);
    }
    for (const ch of text) {
      const id = this.ids.get(ch);
      if (id !== undefined) tokens.push(id);
      else for (const b of new TextEncoder().encode(ch)) tokens.push(b + 3);
    }
    for (;;) {
      let best = -1e10;
      let bestId = -1;
      let bestIdx = -1;
      for (let i = bos ? 1 : 0; i < tokens.length - 1; i++) {
        const id = this.ids.get(this.vocab.pieces[tokens[i]] + this.vocab.pieces[tokens[i + 1]]);
        if (id !== undefined && this.vocab.scores[id] > best) {
          best = this.vocab.scores[id];
          bestId = id;
          bestIdx = i;
        }
      }
      if (bestIdx < 0) break;
      tokens.splice(bestIdx, 2, bestId);
    }
    return tokens;
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
