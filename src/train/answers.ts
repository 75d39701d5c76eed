// Scoring a generated answer against the reference, for free-text tasks. Three metrics from one greedy
// continuation (decoded until EOS or a few tokens past the reference's length):
//   exact_match     the whole continuation, trimmed, equals the reference, trimmed (strict: a model that does
//                   not stop right after the answer fails it — stories260K never learned EOS, so it always does);
//   starts_with     the trimmed continuation starts with the trimmed reference (no normalisation);
//   answer          the continuation cut where the answer ends (`AnswerOptions.stop`), compared with the
//                   reference after optional normalisation (case, punctuation, spacing). The default cut is
//                   where the reference ends, at a word boundary: "blue. The box…" answers " blue."; "12" does
//                   not answer "1". This is the accuracy users should read for free-text tasks.

/** Where the answer inside a continuation ends. */
export type AnswerStop = 'reference' | 'newline' | 'eos';

export const ANSWER_STOPS: readonly AnswerStop[] = ['reference', 'newline', 'eos'];

export interface AnswerOptions {
  /**
   * reference: at the reference's length (the next character must not continue a word);
   * newline: at the first line break after the answer starts; eos: the whole continuation up to EOS.
   */
  stop: AnswerStop;
  /** The answer also ends before the first of these strings (e.g. "###", "\n\n"). */
  stopStrings: readonly string[];
  /** Compare lower-cased, without punctuation, with single spaces (otherwise: trimmed only). */
  normalize: boolean;
}

export const DEFAULT_ANSWER: AnswerOptions = { stop: 'reference', stopStrings: [], normalize: true };

export interface AnswerScore {
  exactMatch: boolean;
  startsWith: boolean;
  answer: boolean;
}

/** Lower case, punctuation removed, whitespace runs collapsed to one space, trimmed. */
export function normalizeAnswer(text: string): string {
  return text
    .toLowerCase()
    .replace(/[\p{P}\p{S}]/gu, ' ')
    .replace(/\s+/g, ' ')
    .trim();
}

const canon = (text: string, normalize: boolean) => (normalize ? normalizeAnswer(text) : text.trim());

/** The continuation up to (excluding) the first stop string, and up to the first line break for 'newline'. */
export function cutAnswer(generated: string, o: AnswerOptions): string {
  let text = generated.replace(/^\s+/, '');
  const ends = o.stopStrings
    .filter((s) => s !== '')
    .map((s) => text.indexOf(s))
    .filter((i) => i >= 0);
  if (o.stop === 'newline') {
    const nl = text.indexOf('\n');
    if (nl >= 0) ends.push(nl);
  }
  if (ends.length > 0) text = text.slice(0, Math.min(...ends));
  return text;
}

/** True when `answer` (canonical) begins with `ref` (canonical) and does not continue the reference's last word. */
function endsWhereReferenceEnds(answer: string, ref: string): boolean {
  if (!answer.startsWith(ref)) return false;
  const next = answer.charAt(ref.length);
  return next === '' || !/[\p{L}\p{N}]/u.test(next) || !/[\p{L}\p{N}]$/u.test(ref);
}

/** Scores one continuation (EOS already removed) against the reference completion. */
export function scoreAnswer(generated: string, reference: string, o: AnswerOptions = DEFAULT_ANSWER): AnswerScore {
  const ref = reference.trim();
  const out = generated.trim();
  const cut = cutAnswer(generated, o);
  const refC = canon(ref, o.normalize);
  const cutC = canon(cut, o.normalize);
  const answer = o.stop === 'reference' ? refC !== '' && endsWhereReferenceEnds(cutC, refC) : cutC === refC;
  return { exactMatch: out === ref, startsWith: ref !== '' && out.startsWith(ref), answer };
}
