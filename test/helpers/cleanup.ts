/**
 * What a test started and must stop, whether it passed, failed or its hook threw: servers, chains, processes and
 * sockets register their stop here, and the root hooks (test/setup.ts) run what is due after each test and after
 * each file. A stop runs once, however often it is called (a test may stop what it started itself).
 */
type Stop = () => unknown;
type Scope = 'test' | 'file';

const due: Record<Scope, Set<Stop>> = { test: new Set(), file: new Set() };

/** Registers `stop` to run at the end of the current test or file; returns it, made to run at most once. */
export function stopAfter<T>(scope: Scope, stop: () => T | Promise<T>): () => Promise<T | undefined> {
  let stopped: Promise<T> | undefined;
  const once = async (): Promise<T | undefined> => {
    due[scope].delete(once);
    stopped ??= Promise.resolve().then(stop);
    return stopped;
  };
  due[scope].add(once);
  return once;
}

/**
 * Runs every stop due at the end of `scope`, the latest registered first (what was started on top of something else
 * stops before it), all of them even when some fail; then throws the first failure.
 */
export async function runStops(scope: Scope): Promise<void> {
  const failures: unknown[] = [];
  for (const stop of [...due[scope]].reverse()) await Promise.resolve(stop()).catch((error) => failures.push(error));
  if (failures.length > 0) throw new AggregateError(failures, `${failures.length} cleanup step(s) failed`);
}
