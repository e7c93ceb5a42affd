/**
 * Turns of the event loop for CPU-heavy work that arrives in bursts (signature checks of a flood of sign-ins): one
 * caller per turn, with the loop's I/O served between turns, so the burst cannot starve other requests; callers are
 * served in the order they came.
 */
export class Turns {
  private last: Promise<void> = Promise.resolve();

  /** Resolves on the caller's turn: after every earlier caller's, and after the loop went round once more. */
  next(): Promise<void> {
    const turn = this.last.then(() => new Promise<void>((resolve) => setImmediate(resolve)));
    this.last = turn;
    return turn;
  }
}
