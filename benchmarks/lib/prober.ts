/**
 * Honest requests during an attack, timed in a process of their own so the benchmark's own work (signing,
 * pumping bytes) does not delay them: forked with the URL to GET; one request every 20 ms until the parent sends
 * any message, then it answers the times (ms) and how many got no answer, and exits.
 */
import { setPriority } from 'node:os';

const url = process.argv[2]!;
// Forked from the attacker, which runs at the lowest priority: honest clients run at the normal one (as root).
try {
  setPriority(0);
} catch {
  // Not allowed here: the times then include waiting behind the attacker.
}
const times: number[] = [];
let unanswered = 0;
let running = true;
process.once('message', () => (running = false));
while (running) {
  const started = performance.now();
  try {
    const response = await fetch(url, { signal: AbortSignal.timeout(30_000) });
    await response.arrayBuffer();
    times.push(performance.now() - started);
  } catch {
    unanswered++;
  }
  await new Promise((resolve) => setTimeout(resolve, 20));
}
process.send!({ times, unanswered }, () => process.disconnect());
