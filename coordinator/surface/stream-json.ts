/** Answers that grow with a task, sent as they are read rather than built whole. */
import type { Response } from 'express';
import { createLogger } from '../../common/log.js';

const log = createLogger('rest');

/**
 * How long a reader may take to read a slice (below) before its answer is cut: the time a client gives a silent
 * coordinator (protocol/http.ts), so a reader that stopped reading cannot hold a piece in memory for longer.
 */
export const STALL_MS = 60_000;

/**
 * Sends JSON text as its pieces come, each once the socket took the last (so a slow reader holds back the reading,
 * not the coordinator's memory). A failure before the first piece (an unknown task) is answered with its code; one
 * after it cuts the answer short, which its reader cannot parse; a reader that leaves, or takes less than a slice in
 * `stallMs`, stops the reading.
 */
export async function streamJson(res: Response, pieces: AsyncGenerator<string>, stallMs = STALL_MS): Promise<void> {
  let piece = await pieces.next();
  res.type('json');
  try {
    for (; !piece.done; piece = await pieces.next()) {
      if (!(await send(res, piece.value, stallMs))) {
        if (!res.destroyed) log.warn('a reader stopped reading: its answer was cut short', { stallMs });
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

/**
 * What is written at a time. The stall limit applies to each slice, not to a whole piece: a signed record can be
 * tens of MiB, which a verifier on a slow link takes minutes to read, but it takes a slice well within the limit.
 */
export const SLICE_CHARACTERS = 64 * 1024;

/** Writes `text` a slice at a time, each once the socket took the last: false if the reader stalled or left. */
async function send(res: Response, text: string, stallMs: number): Promise<boolean> {
  for (let at = 0; at < text.length;) {
    let end = Math.min(text.length, at + SLICE_CHARACTERS);
    // Never between the two halves of a character outside the BMP: each slice is encoded to UTF-8 on its own.
    if (isHighSurrogate(text.charCodeAt(end - 1))) end++;
    if (!res.write(text.slice(at, end)) && !(await drained(res, stallMs))) return false;
    at = end;
  }
  return true;
}

const isHighSurrogate = (code: number): boolean => code >= 0xd800 && code <= 0xdbff;

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
