// The one error the dataset layer throws for a whole file it cannot use (too big, binary, not UTF-8, empty,
// not JSON, no rows) or a mapping that does not fit the file. Problems confined to single rows are not
// errors: they become issues in the validation report, and the rest of the file is used.

export class DatasetError extends Error {
  override name = 'DatasetError';

  /** `line` is the 1-based line of the file the problem was found at, when there is one. */
  constructor(
    message: string,
    readonly file?: string,
    readonly line?: number,
  ) {
    super(message);
  }
}
