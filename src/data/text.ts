// Bytes of an uploaded task file → text, refusing what is not a text dataset before any parsing: the size is
// checked before decoding (so a 100 MB file costs nothing), the first KiB is sniffed for binary content (known
// magic numbers, NUL bytes, invalid UTF-8), UTF-16 is named rather than misread, and the whole file is then
// decoded as strict UTF-8 so a bad byte is reported with its line instead of turning into U+FFFD.

import { DatasetError } from './errors';

/** Largest task file accepted. Ample for fine-tuning data (GSM8K's train set is 4 MiB) and safe in a tab. */
export const MAX_FILE_BYTES = 64 * 1024 * 1024;

const SNIFF_BYTES = 1024;

const ascii = (s: string) => Array.from(s, (c) => c.charCodeAt(0));

/** Formats people upload by mistake, by their magic number, with what to do instead. */
const MAGIC: { bytes: number[]; what: string }[] = [
  { bytes: [0x89, ...ascii('PNG')], what: 'a PNG image' },
  { bytes: [0xff, 0xd8, 0xff], what: 'a JPEG image' },
  { bytes: ascii('GIF8'), what: 'a GIF image' },
  { bytes: ascii('GGUF'), what: 'a GGUF model file (load it as the model, not as a task)' },
  { bytes: ascii('PK\x03\x04'), what: 'a ZIP archive (an .xlsx workbook? export the sheet as CSV)' },
  { bytes: [0x1f, 0x8b], what: 'a gzip archive (decompress it first)' },
  { bytes: ascii('PAR1'), what: 'a Parquet file (convert it to JSONL or CSV)' },
  { bytes: ascii('%PDF'), what: 'a PDF document' },
  { bytes: [0xd0, 0xcf, 0x11, 0xe0], what: 'an old Excel/Word document (export it as CSV)' },
];

const startsWith = (bytes: Uint8Array, prefix: number[]) =>
  bytes.length >= prefix.length && prefix.every((b, i) => bytes[i] === b);

/**
 * Offset of the first byte that breaks UTF-8 in bytes[0, end), or -1. With `partialEnd`, a multi-byte
 * sequence cut off by `end` is accepted (the sniffing window may end inside a character).
 */
export function firstInvalidUtf8(bytes: Uint8Array, end = bytes.length, partialEnd = false): number {
  let i = 0;
  while (i < end) {
    const b = bytes[i];
    if (b < 0x80) {
      i++;
      continue;
    }
    // Lead byte: length and the allowed range of the second byte (no overlongs, surrogates or > U+10FFFF).
    let n: number;
    let lo = 0x80;
    let hi = 0xbf;
    if (b >= 0xc2 && b <= 0xdf) n = 2;
    else if (b >= 0xe0 && b <= 0xef) {
      n = 3;
      if (b === 0xe0) lo = 0xa0;
      if (b === 0xed) hi = 0x9f;
    } else if (b >= 0xf0 && b <= 0xf4) {
      n = 4;
      if (b === 0xf0) lo = 0x90;
      if (b === 0xf4) hi = 0x8f;
    } else return i;
    for (let k = 1; k < n; k++) {
      if (i + k >= end) return partialEnd && end < bytes.length ? -1 : i;
      const c = bytes[i + k];
      if (k === 1 ? c < lo || c > hi : c < 0x80 || c > 0xbf) return i;
    }
    i += n;
  }
  return -1;
}

/** 1-based line of a byte offset (counts LF bytes; only used to place an error). */
function lineOfByte(bytes: Uint8Array, offset: number): number {
  let line = 1;
  for (let i = 0; i < offset; i++) if (bytes[i] === 0x0a) line++;
  return line;
}

/** Refuses a file over MAX_FILE_BYTES; callers that can see the size first (a File, a stat) check before reading. */
export function checkFileSize(file: string, size: number): void {
  if (size > MAX_FILE_BYTES) {
    const mib = (n: number) => (n / 2 ** 20).toFixed(n < 2 ** 20 ? 2 : 0);
    throw new DatasetError(
      `${file}: ${mib(size)} MiB is over the ${mib(MAX_FILE_BYTES)} MiB limit for a task file ` +
        '(a few hundred examples per task is plenty for adapters); keep the examples you need or split the file.',
      file,
    );
  }
}

/** Refuses files over the limit and binary content; throws DatasetError naming the file and the reason. */
export function checkTextFile(file: string, bytes: Uint8Array): void {
  checkFileSize(file, bytes.length);
  if (startsWith(bytes, [0xff, 0xfe]) || startsWith(bytes, [0xfe, 0xff])) {
    throw new DatasetError(`${file} is UTF-16 text; save it as UTF-8.`, file);
  }
  const magic = MAGIC.find((m) => startsWith(bytes, m.bytes));
  if (magic) throw new DatasetError(`${file} is ${magic.what}, not a text dataset (JSONL, JSON, CSV or TSV).`, file);
  const window = Math.min(bytes.length, SNIFF_BYTES);
  if (bytes.subarray(0, window).includes(0) || firstInvalidUtf8(bytes, window, true) >= 0) {
    throw new DatasetError(
      `${file} looks like a binary file (NUL bytes or invalid UTF-8 in its first ${SNIFF_BYTES} bytes), ` +
        'not a text dataset (JSONL, JSON, CSV or TSV).',
      file,
    );
  }
}

const decoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: false });

/**
 * The file's text: size and binary checks, strict UTF-8 decoding (a UTF-8 BOM is dropped), and a refusal of
 * empty or whitespace-only files.
 */
export function decodeText(file: string, bytes: Uint8Array): string {
  checkTextFile(file, bytes);
  let text: string;
  try {
    text = decoder.decode(bytes);
  } catch {
    const at = firstInvalidUtf8(bytes);
    if (at < 0) throw new DatasetError(`${file} is not valid UTF-8; save the file as UTF-8.`, file);
    const line = lineOfByte(bytes, at);
    throw new DatasetError(
      `${file}, line ${line}: not valid UTF-8 (byte 0x${bytes[at].toString(16).padStart(2, '0')} at ` +
        `offset ${at}); save the file as UTF-8.`,
      file,
      line,
    );
  }
  if (text.trim() === '') throw new DatasetError(`${file} is empty.`, file);
  return text;
}
