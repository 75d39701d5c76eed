// The real files under ../shared (models, datasets), read in place and never copied into the repo.
// SHARED_DIR overrides the location; a missing folder fails loudly rather than skipping.

import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

export function sharedPath(relative: string): string {
  const root = process.env.SHARED_DIR ?? fileURLToPath(new URL('../../../shared/', import.meta.url));
  const path = `${root.replace(/\/$/, '')}/${relative}`;
  if (!existsSync(path)) {
    throw new Error(
      `${path} not found: the real test files live in ../shared beside the repository (or set SHARED_DIR).`,
    );
  }
  return path;
}
