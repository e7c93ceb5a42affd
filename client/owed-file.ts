/** A Node client's owed contributions (client/core/settlement.ts), kept in a JSON file beside its key. */
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import type { OwedStore } from './core/settlement.js';
import type { OwedContribution } from './core/settling.js';

export function owedFile(file: string): OwedStore {
  return {
    where: file,
    load: () => (existsSync(file) ? (JSON.parse(readFileSync(file, 'utf8')) as OwedContribution[]) : []),
    save: (entries) => {
      // Written whole, then renamed over the old file: a crash leaves one or the other, never half of one.
      mkdirSync(dirname(file), { recursive: true });
      writeFileSync(`${file}.tmp`, JSON.stringify(entries, null, 2) + '\n');
      renameSync(`${file}.tmp`, file);
    },
  };
}
