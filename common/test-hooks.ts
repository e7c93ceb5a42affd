/**
 * A moment the tests hold a process at, so they can kill it there (a verifier in the middle of a proof, say): inert
 * unless the environment names a file. The first process to reach it writes its pid to `<file>.held` and waits while
 * the file exists; any later one passes, so a replacement started meanwhile is not held again.
 */
import { existsSync, writeFileSync } from 'node:fs';

export async function holdHereForTest(variable: 'ZKFL_TEST_HOLD_VERIFICATION'): Promise<void> {
  const file = process.env[variable];
  if (!file || !existsSync(file)) return;
  try {
    writeFileSync(`${file}.held`, String(process.pid), { flag: 'wx' });
  } catch {
    return;
  }
  while (existsSync(file)) await new Promise((resolve) => setTimeout(resolve, 50));
}
