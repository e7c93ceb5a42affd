/**
 * Work that arrives in bursts (a flood of socket events from many connections), run in slices of at most `sliceMs`
 * per turn of the event loop, in the order it came: between slices the loop serves I/O, so a burst delays other
 * requests by a slice, not by the whole burst.
 */
export class Slices {
  private queue: (() => void)[] = [];
  private head = 0;
  private scheduled = false;

  constructor(private readonly sliceMs = 5) {}

  run(job: () => void): void {
    this.queue.push(job);
    if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(() => this.drain());
    }
  }

  private drain(): void {
    const until = performance.now() + this.sliceMs;
    while (this.head < this.queue.length && performance.now() < until) this.queue[this.head++]!();
    if (this.head < this.queue.length) return void setImmediate(() => this.drain());
    this.queue = [];
    this.head = 0;
    this.scheduled = false;
  }
}
