/** Answers that grow with a task, sent as they are read rather than built whole. */
import type { Response } from 'express';
import { createLogger } from '../../common/log.js';

const log = createLogger('rest');

/**
 * Sends JSON text as its pieces come, each once the socket took the last (so a slow reader holds back the reading,
 * not the coordinator's memory). A failure before the first piece (an unknown task) is answered with its code; one
 * after it cuts the answer short, which its reader cannot parse; a reader that leaves stops the reading.
 */
export async function streamJson(res: Response, pieces: AsyncGenerator<string>): Promise<void> {
  let piece = await pieces.next();
  res.type('json');
  try {
    for (; !piece.done; piece = await pieces.next()) {
      if (res.destroyed) return void (await pieces.return(undefined));
      if (!res.write(piece.value)) await writable(res);
    }
    res.end();
  } catch (error) {
    log.warn('an answer was cut short', { error: (error as Error).message });
    res.destroy();
  }
}

/** Once the socket takes more, or is gone. */
function writable(res: Response): Promise<void> {
  return new Promise((resolve) => {
    if (res.destroyed) return resolve();
    const done = () => {
      res.off('drain', done);
      res.off('close', done);
      resolve();
    };
    res.on('drain', done);
    res.on('close', done);
  });
}
