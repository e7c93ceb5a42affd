import { expect } from 'chai';
import express from 'express';
import { request as httpRequest, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { ZkflError } from '../../common/errors.js';
import { SLICE_CHARACTERS, streamJson } from '../../coordinator/surface/stream-json.js';
import { requestJson } from '../../protocol/http.js';

/** A megabyte of JSON text per piece, `count` pieces, noting how far it was read and whether it was finished. */
function pieces(count: number, failAt?: number) {
  const seen = { read: 0, finished: false };
  async function* generate(): AsyncGenerator<string> {
    try {
      yield '[';
      for (let k = 0; k < count; k++) {
        // Each piece is read from storage, as the coordinator's are.
        await new Promise((resolve) => setImmediate(resolve));
        if (k === failAt) throw new Error('storage went away');
        seen.read = k + 1;
        yield `${k > 0 ? ',' : ''}"${'x'.repeat(2 ** 20)}"`;
      }
      yield ']';
    } finally {
      seen.finished = true;
    }
  }
  return { seen, generate };
}

/** An answer of one piece, read from storage as the coordinator's are. */
async function* onePiece(text: string): AsyncGenerator<string> {
  await new Promise((resolve) => setImmediate(resolve));
  yield text;
}

/** The stall limit here: a reader that takes nothing for this long is cut off. */
const STALL_MS = 500;
/** The slow reader's: six of its 250 ms ticks, a margin a busy machine keeps, and a fraction of its whole read. */
const SLOW_READER_STALL_MS = 1_500;

describe('answers streamed as they are read (coordinator/surface/stream-json.ts)', () => {
  let server: Server;
  let base: string;
  let current: ReturnType<typeof pieces>;
  before(async () => {
    const app = express();
    app.get('/unknown', (_req, res) =>
      streamJson(
        res,
        (async function* () {
          await Promise.resolve();
          yield* [];
          throw new ZkflError('NOT_FOUND', 'no such task');
        })(),
      ),
    );
    app.get('/stream', (_req, res) => streamJson(res, current.generate()));
    app.get('/stream-stalling', (_req, res) => streamJson(res, current.generate(), STALL_MS));
    // One piece larger than the connection's buffers take, as a long public audit's record is.
    app.get('/one-large-piece', (_req, res) =>
      streamJson(res, onePiece(`"${'x'.repeat(24 * 2 ** 20)}"`), SLOW_READER_STALL_MS),
    );
    // A character of two UTF-16 halves, on the boundary of the slices an answer is written in.
    app.get('/emoji', (_req, res) =>
      streamJson(res, onePiece(`"${'x'.repeat(SLICE_CHARACTERS - 2)}😀${'y'.repeat(10)}"`)),
    );
    app.use(
      ((error: ZkflError, _req, res, _next) =>
        void res.status(404).json({ code: error.code })) as express.ErrorRequestHandler,
    );
    server = app.listen(0, '127.0.0.1');
    await new Promise((resolve) => server.once('listening', resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(() => server.close());

  it('sends every piece, in order, as one JSON answer', async () => {
    current = pieces(20);
    const answer = await requestJson<string[]>(`${base}/stream`);
    expect(answer).to.have.length(20);
    expect(current.seen).to.deep.equal({ read: 20, finished: true });
  });

  it('answers a failure before the first piece with its code', async () => {
    const code = await requestJson(`${base}/unknown`).catch((error: ZkflError) => error.code);
    expect(code).to.equal('NOT_FOUND');
  });

  it('reads no further than the reader takes, and stops reading when the reader leaves', async () => {
    current = pieces(200);
    await new Promise<void>((resolve) => {
      const call = httpRequest(`${base}/stream`, (response) => {
        response.once('data', () => {
          // Not read on: the socket fills, and the answer waits for it.
          response.pause();
          setTimeout(() => {
            expect(current.seen.read).to.be.below(50);
            call.destroy();
            resolve();
          }, 500);
        });
      });
      call.end();
    });
    while (!current.seen.finished) await new Promise((resolve) => setTimeout(resolve, 20));
    expect(current.seen.read).to.be.below(50);
  });

  it('cuts off a reader that takes nothing for the stall limit, and stops reading', async () => {
    current = pieces(200);
    const cut = await new Promise<boolean>((resolve) => {
      httpRequest(`${base}/stream-stalling`, (response) => {
        // Paused well past the stall limit, then read on: a reader that was cut off finds its answer incomplete. (A
        // paused reader does not read the end of its connection, so it could not see the cut before reading on.)
        response.once('data', () => {
          response.pause();
          setTimeout(() => response.resume(), 4 * STALL_MS);
        });
        response.once('close', () => resolve(!response.complete));
        response.on('error', () => undefined);
      })
        .on('error', () => undefined)
        .end();
    });
    expect(cut).to.equal(true);
    while (!current.seen.finished) await new Promise((resolve) => setTimeout(resolve, 20));
    expect(current.seen.read).to.be.below(50);
  });

  it('sends a piece that takes longer than the stall limit to a reader that keeps taking some of it', async () => {
    // 1 MiB every 250 ms: past what the connection's buffers hold, the 24 MiB piece takes seconds, over twice the
    // stall limit, so a limit on the whole piece would cut this reader off.
    const bytes = await new Promise<number>((resolve, reject) => {
      httpRequest(`${base}/one-large-piece`, (response) => {
        let read = 0;
        let readThisTick = 0;
        const ticks = setInterval(() => {
          readThisTick = 0;
          response.resume();
        }, 250);
        response.on('data', (part: Buffer) => {
          read += part.length;
          readThisTick += part.length;
          if (readThisTick >= 2 ** 20) response.pause();
        });
        response.once('close', () => {
          clearInterval(ticks);
          if (response.complete) resolve(read);
          else reject(new Error(`cut off after ${read} bytes`));
        });
      })
        .on('error', reject)
        .end();
    });
    expect(bytes).to.equal(24 * 2 ** 20 + 2);
  });

  it('never writes half of a character on a slice boundary', async () => {
    expect(await requestJson(`${base}/emoji`)).to.equal(`${'x'.repeat(SLICE_CHARACTERS - 2)}😀${'y'.repeat(10)}`);
  });

  it('cuts the answer short when reading fails part-way, and keeps serving', async () => {
    current = pieces(20, 5);
    const code = await requestJson(`${base}/stream`).catch((error: ZkflError) => error.code);
    expect(code).to.be.oneOf(['UNAVAILABLE', 'DATA_MALFORMED']);
    expect(current.seen.finished).to.equal(true);
    current = pieces(3);
    expect(await requestJson<string[]>(`${base}/stream`)).to.have.length(3);
  });
});
