/** Answers that grow with a task, sent as they are read rather than built whole. */
import type { Response } from 'express';
import { createLogger } from '../../common/log.js';

const log = createLogger('rest');

/**
 * How long a reader may take nothing before its answer is cut: the time a client gives a silent coordinator
 * (protocol/http.ts), so a reader that stopped reading cannot hold a piece in memory for longer.
 */
export const STALL_MS = 60_000;

/**
 * Sends JSON text as its pieces come, each once the socket took the last (so a slow reader holds back the reading,
 * not the coordinator's memory). A failure before the first piece (an unknown task) is answered with its code; one
 * after it cuts the answer short, which its reader cannot parse; a reader that leaves, or takes nothing for
 * `stallMs`, stops the reading.
 */
export async function streamJson(res: Response, pieces: AsyncGenerator<string>, stallMs = STALL_MS): Promise<void> {
  let piece = await pieces.next();
  res.type('json');
  try {
    for (; !piece.done; piece = await pieces.next()) {
      if (!res.write(piece.value) && !(await drained(res, stallMs))) {
        if (!res.destroyed) log.warn('a reader took nothing for too long: its answer was cut short', { stallMs });
        res.destroy();
        return void (await pieces.return(undefined));
      }
    }
    res.end();
  } catch (error) {
    log.warn('an answer was cut short', { error: (error as Error).message });
    res.destroy();
  }
}

/** Whether the socket took what it held within `ms`: false once it is gone, or after `ms` without taking it. */
function drained(res: Response, ms: number): Promise<boolean> {
  return new Promise((resolve) => {
    if (res.destroyed) return resolve(false);
    const done = (taken: boolean) => () => {
      clearTimeout(timer);
      res.off('drain', onDrain);
      res.off('close', onClose);
      resolve(taken);
    };
    const onDrain = done(true);
    const onClose = done(false);
    const timer = setTimeout(onClose, ms);
    res.on('drain', onDrain);
    res.on('close', onClose);
  });
}
