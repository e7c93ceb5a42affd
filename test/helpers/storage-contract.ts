/**
 * What every storage engine must do, as tests: run against SQLite in the unit lane and against a real PostgreSQL
 * in the integration lane, so that the two cannot drift apart.
 */
import { expect } from 'chai';
import type { Storage } from '../../coordinator/state/storage.js';
import { LeaseLost } from '../../coordinator/state/lease-table.js';
import { RunningSum } from '../../ml/aggregation.js';
import type { SignedRoundRecord } from '../../protocol/audit.js';
import { parseTaskSpec } from '../../protocol/task-spec.js';

/** The zk view of a stored task whose proofs nobody checks: what storage tests and benchmarks store tasks with. */
export const storedZk = {
  circuit: 'test',
  chunkSize: 4,
  chunks: 1,
  valueBits: 8 as const,
  clipSquareX96: '1',
  verificationKeySha256: null,
};
const spec = parseTaskSpec({
  name: 'storage',
  model: { preset: 'mlp', hidden: [2] },
  inputShape: [2],
  classes: 2,
  rounds: 2,
  clientsPerRound: { min: 1, target: 2 },
  proofs: false,
  evaluation: { path: 'x.csv' },
});
const update = (address: string, q: number[]) => ({
  address,
  numSamples: 10,
  trainLoss: 0.5,
  commitment: `0x${address.slice(2).padEnd(64, '0')}`,
  score: null,
  amount: null,
  fractionBits: [3],
  proofs: [],
  q: new Uint8Array(Int8Array.from(q).buffer),
});
const signed = (round: number): SignedRoundRecord => ({
  record: { round } as SignedRoundRecord['record'],
  signature: `0xsig${round}`,
});

export function storageContract(open: () => Promise<Storage>): void {
  let storage: Storage;
  beforeEach(async () => {
    storage = await open();
  });
  afterEach(() => storage.close());

  it('creates a task with its first round open, and lists tasks by status', async () => {
    await storage.tasks.create({ id: 't-a', spec, zk: storedZk, numParams: 4, modelHash: 'h0' });
    await storage.tasks.create({ id: 't-b', spec, zk: storedZk, numParams: 4, modelHash: 'h0' });
    await storage.tasks.end('t-b', 'cancelled', 'cancelled by its owner');
    const task = await storage.tasks.get('t-a');
    expect(task).to.include({ id: 't-a', status: 'running', currentRound: 1, numParams: 4, modelHash: 'h0' });
    expect(task).to.not.have.property('reason');
    expect(await storage.tasks.get('t-b')).to.include({ status: 'cancelled', reason: 'cancelled by its owner' });
    await storage.rounds.note('t-a', 1, 'waiting for clients');
    expect(await storage.rounds.get('t-a', 1)).to.include({ note: 'waiting for clients' });
    expect(task!.spec).to.deep.equal(spec);
    expect(task!.zk).to.deep.equal(storedZk);
    expect((await storage.tasks.list()).map((t) => t.id)).to.deep.equal(['t-a', 't-b']);
    expect((await storage.tasks.list('running')).map((t) => t.id)).to.deep.equal(['t-a']);
    // The same list a page at a time, keyed by creation time and then id: tasks created in one millisecond are
    // neither skipped nor repeated.
    await storage.tasks.create({ id: 't-c', spec, zk: storedZk, numParams: 4, modelHash: 'h0' });
    const [first] = await storage.tasks.page(undefined, 1);
    const rest = await storage.tasks.page(first, 5);
    expect([first!, ...rest].map((t) => t.id)).to.deep.equal((await storage.tasks.list()).map((t) => t.id));
    expect(rest.map((t) => t.id)).to.deep.equal(['t-b', 't-c']);
    expect(await storage.tasks.get('t-none')).to.equal(undefined);
    const [round] = await storage.rounds.list('t-a');
    expect(round).to.include({ round: 1, phase: 'open', attempts: 0, modelHashBefore: 'h0', modelHashAfter: null });
  });

  it('pages through tasks created in the same millisecond by id, none skipped or repeated', async () => {
    const toISOString = Object.getOwnPropertyDescriptor(Date.prototype, 'toISOString')!;
    Date.prototype.toISOString = () => '2026-12-05T12:00:00.000Z';
    try {
      // Created out of id order, so that creation order and id order differ.
      for (const id of ['t-3', 't-1', 't-2']) {
        await storage.tasks.create({ id, spec, zk: storedZk, numParams: 4, modelHash: 'h0' });
      }
    } finally {
      Object.defineProperty(Date.prototype, 'toISOString', toISOString);
    }
    const paged = [];
    for (let page = await storage.tasks.page(undefined, 1); page.length > 0;) {
      paged.push(...page);
      page = await storage.tasks.page(page.at(-1), 1);
    }
    expect(paged.map((t) => t.id)).to.deep.equal(['t-1', 't-2', 't-3']);
  });

  it('keeps accepted updates in the order they were accepted, with the running sum that includes them', async () => {
    await storage.tasks.create({ id: 't-1', spec, zk: storedZk, numParams: 4, modelHash: 'h0' });
    await storage.rounds.setPhase('t-1', 1, 'training', 1);
    const sum = RunningSum.empty(4);
    // Addresses out of alphabetical order: the order of acceptance is what counts.
    for (const [address, q] of [
      ['0xcc', [1, 2, 3, 4]],
      ['0xaa', [-1, 0, 1, 2]],
      ['0xbb', [5, 5, 5, 5]],
    ] as const) {
      sum.add(q, 10, [3], 4);
      await storage.updates.recordAccepted('t-1', 1, update(address, [...q]), sum, { proofsVerified: 1 });
    }
    expect((await storage.updates.accepted('t-1', 1)).map((u) => u.address)).to.deep.equal(['0xcc', '0xaa', '0xbb']);
    const stored = await storage.updates.stored('t-1', 1);
    expect(stored.map((u) => [u.address, [...new Int8Array(u.q.buffer, u.q.byteOffset, u.q.length)]])).to.deep.equal([
      ['0xcc', [1, 2, 3, 4]],
      ['0xaa', [-1, 0, 1, 2]],
      ['0xbb', [5, 5, 5, 5]],
    ]);
    const loaded = await storage.updates.runningSum('t-1', 1, 4);
    expect([...loaded.sum]).to.deep.equal([...sum.sum]);
    expect([loaded.totalWeight, loaded.count]).to.deep.equal([30, 3]);
    const round = (await storage.rounds.get('t-1', 1))!;
    expect([round.phase, round.attempts, round.proofsVerified]).to.deep.equal(['training', 1, 3]);
    // One update per address and round.
    let refused: unknown;
    await storage.updates
      .recordAccepted('t-1', 1, update('0xaa', [0, 0, 0, 0]), sum, { proofsVerified: 1 })
      .catch((error: unknown) => {
        refused = error;
      });
    expect(String(refused)).to.match(/UNIQUE|duplicate key/);
    expect(await storage.updates.accepted('t-1', 1)).to.have.length(3);
  });

  it('scores, finishes a round and opens the next in one step, then completes the task', async () => {
    await storage.tasks.create({ id: 't-2', spec, zk: storedZk, numParams: 4, modelHash: 'h0' });
    const sum = RunningSum.empty(4);
    sum.add([1, 1, 1, 1], 10, [3], 4);
    // Three sampled: one accepted, one rejected after verifying its proofs, one never answers.
    await storage.rounds.addCounts('t-2', 1, { sampled: 3 });
    await storage.updates.recordAccepted('t-2', 1, update('0xaa', [1, 1, 1, 1]), sum, {
      answered: 1,
      proofsVerified: 2,
      verifySeconds: 0.25,
    });
    const refused = { address: '0xbb', code: 'PROOF_INVALID' as const, reason: 'chunk 1' };
    await storage.updates.recordRejected('t-2', 1, refused, { answered: 1, proofsRejected: 2, verifySeconds: 0.5 });
    expect(await storage.rounds.get('t-2', 1)).to.include({ sampled: 3, answered: 2, dropped: null });
    await storage.updates.setScores('t-2', 1, [{ address: '0xaa', score: 0.25, amount: '7' }]);
    await storage.rounds.finish('t-2', 1, {
      accuracy: 0.5,
      loss: 1.25,
      modelHashAfter: 'h1',
      last: false,
      signed: signed(1),
    });
    expect(await storage.tasks.get('t-2')).to.include({ currentRound: 2, modelHash: 'h1', status: 'running' });
    const [first, second] = await storage.rounds.list('t-2');
    expect(first).to.include({ phase: 'evaluated', accuracy: 0.5, loss: 1.25, modelHashAfter: 'h1' });
    expect(first).to.include({ sampled: 3, answered: 2, dropped: 1, proofsVerified: 2, proofsRejected: 2 });
    expect(first!.verifySeconds).to.be.closeTo(0.75, 1e-9);
    expect(first!.participants[0]).to.include({ address: '0xaa', score: 0.25, amount: '7' });
    expect(second).to.include({ round: 2, phase: 'open', modelHashBefore: 'h1' });
    expect((await storage.updates.runningSum('t-2', 1, 4)).count).to.equal(0);
    const [audited] = await storage.updates.audited('t-2', 1, true);
    expect(audited).to.deep.include({ address: '0xaa', score: 0.25, amount: '7', fractionBits: [3] });
    expect(Buffer.from(audited!.update!.q, 'base64')).to.deep.equal(Buffer.from([1, 1, 1, 1]));
    await storage.rounds.finish('t-2', 2, {
      accuracy: 0.6,
      loss: 1,
      modelHashAfter: 'h2',
      last: true,
      signed: signed(2),
    });
    expect(await storage.tasks.get('t-2')).to.include({ status: 'completed', modelHash: 'h2', currentRound: 2 });
    expect(await storage.rounds.records('t-2')).to.deep.equal([signed(1), signed(2)]);
    // The audit API streams the same records a round at a time, as stored.
    const streamed = [1, 2, 3].map((round) => storage.rounds.recordJson('t-2', round));
    expect((await Promise.all(streamed)).map((text) => text && (JSON.parse(text) as SignedRoundRecord))).to.deep.equal([
      signed(1),
      signed(2),
      undefined,
    ]);
    // What a reward rule over the task pays from: every earlier round's scores, a round that accepted none empty.
    expect(await storage.updates.scoresBefore('t-2', 3)).to.deep.equal([[{ address: '0xaa', score: 0.25 }], []]);
    expect(await storage.updates.scoresBefore('t-2', 1)).to.deep.equal([]);
  });

  it("keeps a private round's sampling, each holder once, until the round closes", async () => {
    await storage.tasks.create({ id: 't-s', spec, zk: storedZk, numParams: 4, modelHash: 'h0' });
    await storage.rounds.addSampling('t-s', 1, { eligible: ['0xcc', '0xaa', '0xbb'], asked: ['0xaa'] });
    // Sampled again later: a holder eligible before may be asked now; one asked stays asked.
    await storage.rounds.addSampling('t-s', 1, { eligible: ['0xbb', '0xdd', '0xaa'], asked: ['0xbb'] });
    expect(await storage.rounds.sampling('t-s', 1)).to.deep.equal({
      eligible: ['0xaa', '0xbb', '0xcc', '0xdd'],
      asked: ['0xaa', '0xbb'],
    });
    expect(await storage.rounds.sampling('t-s', 2)).to.deep.equal({ eligible: [], asked: [] });
    // More holders than one statement takes (a large private task's round: 36,000 parameters in one).
    const many = Array.from({ length: 9000 }, (_, i) => `0x${i.toString(16).padStart(40, '0')}`);
    await storage.rounds.addSampling('t-s', 2, { eligible: many, asked: many.slice(0, 1200) });
    const stored = await storage.rounds.sampling('t-s', 2);
    expect([stored.eligible.length, stored.asked.length]).to.deep.equal([9000, 1200]);
    await storage.rounds.finish('t-s', 1, {
      accuracy: 0.5,
      loss: 1,
      modelHashAfter: 'h1',
      last: false,
      signed: signed(1),
    });
    expect(await storage.rounds.sampling('t-s', 1)).to.deep.equal({ eligible: [], asked: [] });
  });

  it('lists at most 3 rejections per address and round (the default), and counts the rest', async () => {
    await storage.tasks.create({ id: 't-3', spec, zk: storedZk, numParams: 4, modelHash: 'h0' });
    const rejection = { address: '0x01', code: 'WRONG_LENGTH' as const, reason: 'short' };
    for (let i = 0; i < 5; i++) await storage.updates.recordRejected('t-3', 1, rejection, { proofsRejected: 2 });
    const round = (await storage.rounds.get('t-3', 1))!;
    expect(round.rejected.map((r) => r.reason)).to.deep.equal(['short', 'short', 'short']);
    expect([round.rejectedUnlisted, round.proofsRejected]).to.deep.equal([2, 10]);
    expect((await storage.holders.activity('0x01')).rejections).to.equal(3);
  });

  it("renews a holder's consent, and tells its history", async () => {
    await storage.tasks.create({ id: 't-4', spec, zk: storedZk, numParams: 4, modelHash: 'h0' });
    const consent = { taskKey: '0xk', termsHash: '0xold', signature: '0xs1' };
    await storage.holders.recordConsent('t-4', '0xaa', consent);
    await storage.holders.recordConsent('t-4', '0xaa', { ...consent, termsHash: '0xnew', signature: '0xs2' });
    expect(await storage.holders.consent('t-4', '0xaa')).to.deep.include({ termsHash: '0xnew', signature: '0xs2' });
    expect(await storage.holders.consent('t-4', '0xbb')).to.equal(undefined);
    expect(await storage.holders.consents('t-4')).to.have.length(1);
    const activity = await storage.holders.activity('0xaa');
    expect(activity.consents.map((c) => [c.taskId, c.termsHash])).to.deep.equal([['t-4', '0xnew']]);
  });

  it('keeps chain actions once each, in the order they were derived, with their progress', async () => {
    const base = { taskId: 't-5', args: [] };
    await storage.chainActions.add({ ...base, round: 2, kind: 'bond' });
    await storage.chainActions.add({ ...base, round: 1, kind: 'open', args: ['0xh'] });
    await storage.chainActions.add({ ...base, round: 2, kind: 'bond' });
    await storage.chainActions.add({ ...base, round: 1, kind: 'answer', subject: '3' });
    expect((await storage.chainActions.pending()).map((a) => `${a.round} ${a.kind} ${a.subject}`)).to.deep.equal([
      '2 bond ',
      '1 open ',
      '1 answer 3',
    ]);
    const [bond] = await storage.chainActions.ofTask('t-5');
    await storage.chainActions.update(bond!, { status: 'done', txHash: '0xt', attempts: 2, lastError: null });
    const actions = await storage.chainActions.ofTask('t-5');
    expect(actions[0]).to.include({ status: 'done', txHash: '0xt', attempts: 2, lastError: null, rawTx: null });
    expect(actions[1]!.args).to.deep.equal(['0xh']);
    expect(await storage.chainActions.pending()).to.have.length(2);
  });

  it('leases: held by one instance at a time, renewed by it, taken over once expired; writes fenced by them', async () => {
    await storage.tasks.create({ id: 't-6', spec, zk: storedZk, numParams: 4, modelHash: 'h0' });
    const lease = 'task:t-6';
    expect(await storage.leases.acquire(lease, 'a', 60_000)).to.equal(true);
    expect(await storage.leases.acquire(lease, 'b', 60_000)).to.equal(false);
    expect(await storage.leases.acquire(lease, 'a', 60_000)).to.equal(true);
    expect(await storage.leases.holder(lease)).to.equal('a');
    // a stops renewing: its lease runs out, and b takes the task over.
    expect(await storage.leases.acquire(lease, 'a', 1)).to.equal(true);
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(await storage.leases.holder(lease)).to.equal(undefined);
    expect(await storage.leases.acquire(lease, 'b', 60_000)).to.equal(true);
    expect(await storage.leases.acquire(lease, 'a', 60_000)).to.equal(false);

    // What a writes under its lost lease is refused; b's goes in.
    const [asA, asB] = [storage.fenced({ name: lease, holder: 'a' }), storage.fenced({ name: lease, holder: 'b' })];
    const sum = RunningSum.empty(4);
    sum.add([1, 1, 1, 1], 10, [3], 4);
    const refused = (write: Promise<unknown>): Promise<unknown> =>
      write.then(
        () => undefined,
        (error: unknown) => error,
      );
    expect(await refused(asA.updates.recordAccepted('t-6', 1, update('0xaa', [1, 1, 1, 1]), sum, {}))).to.be.instanceOf(
      LeaseLost,
    );
    await asB.updates.recordAccepted('t-6', 1, update('0xbb', [1, 1, 1, 1]), sum, {});
    expect((await storage.updates.accepted('t-6', 1)).map((u) => u.address)).to.deep.equal(['0xbb']);
    const result = { accuracy: 0.5, loss: 1, modelHashAfter: 'h1', last: false, signed: signed(1) };
    // One at a time: each refusal is awaited as it happens.
    for (const write of [
      () => asA.rounds.finish('t-6', 1, result),
      () => asA.rounds.setPhase('t-6', 1, 'aggregating'),
      () => asA.updates.setScores('t-6', 1, [{ address: '0xbb', score: 1, amount: '1' }]),
      () => asA.rounds.addCounts('t-6', 1, { sampled: 1 }),
      () => asA.updates.recordRejected('t-6', 1, { address: '0xcc', code: 'WRONG_ROUND', reason: 'late' }, {}),
      () => asA.tasks.end('t-6', 'failed', 'a test'),
      () => asA.rounds.note('t-6', 1, 'a test'),
    ]) {
      expect(await refused(write())).to.be.instanceOf(LeaseLost);
    }
    expect(await storage.rounds.get('t-6', 1)).to.include({ phase: 'open', sampled: 0 });
    expect((await storage.rounds.get('t-6', 1))!.rejected).to.deep.equal([]);
    expect((await storage.tasks.get('t-6'))!.status).to.equal('running');

    // Released: anyone may take it at once.
    await storage.leases.release(lease, 'a');
    expect(await storage.leases.holder(lease)).to.equal('b');
    await storage.leases.release(lease, 'b');
    expect(await storage.leases.acquire(lease, 'c', 60_000)).to.equal(true);
  });
}
