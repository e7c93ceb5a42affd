/**
 * Honest requests during an attack, timed in a process of their own so the benchmark's own work (signing,
 * pumping bytes) does not delay them: forked with the URL to GET; one request every 20 ms until the parent sends
 * any message, then it answers the times (ms) and how many got no answer, and exits. They come from another
 * loopback address than the attacker's (127.0.0.2), as an honest client's come from another machine: the per-IP
 * limits the attacker trips are not theirs.
 */
import { Agent, get } from 'node:http';
import { setPriority } from 'node:os';

const url = process.argv[2]!;
const honestAddress = '127.0.0.2';
// Forked from the attacker, which runs at the lowest priority: honest clients run at the normal one (as root).
try {
  setPriority(0);
} catch {
  // Not allowed here: the times then include waiting behind the attacker.
}

// One connection kept alive between requests, as a browser keeps it.
const agent = new Agent({ keepAlive: true, maxSockets: 1 });

/** One GET from the honest address; resolves when the whole answer is in. */
function request(): Promise<void> {
  return new Promise((resolve, reject) => {
    const sent = get(url, { localAddress: honestAddress, agent, timeout: 30_000 }, (response) => {
      response.resume();
      response.once('end', () =>
        response.statusCode === 200 ? resolve() : reject(new Error(`${response.statusCode}`)),
      );
    });
    sent.once('timeout', () => sent.destroy(new Error('timed out')));
    sent.once('error', reject);
  });
}

const times: number[] = [];
let unanswered = 0;
let running = true;
process.once('message', () => (running = false));
// A benchmark that died (killed, or of an error) takes its prober with it.
process.once('disconnect', () => process.exit(0));
while (running) {
  const started = performance.now();
  try {
    await request();
    times.push(performance.now() - started);
  } catch {
    unanswered++;
  }
  await new Promise((resolve) => setTimeout(resolve, 20));
}
process.send!({ times, unanswered }, () => process.disconnect());
