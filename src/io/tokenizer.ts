// What the engine needs from a tokenizer, whichever format it came from (tokenizer.json, a GGUF vocabulary,
// llama2.c's tokenizer.bin).

export interface Tokenizer {
  readonly vocabSize: number;
  readonly bosId: number | null;
  readonly eosId: number | null;
  /**
   * Token ids of `text`, with BOS first when `bos` (default true) and the model adds one; with `special`,
   * control tokens written in the text (e.g. chat markers) become their ids where the tokenizer supports it.
   */
  encode(text: string, opts?: { bos?: boolean; special?: boolean }): number[];
  /** Text of `ids` (special tokens such as BOS are skipped). */
  decode(ids: number[]): string;
}
