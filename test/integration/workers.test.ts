/**
 * Proof verification by `zkfl worker` processes through a BullMQ queue on a real Redis (started here): a task
 * trained with its proofs verified by two workers; a proof sent twice verified once; a worker SIGKILLed mid-job
 * loses nothing (another worker finishes its job).
 */
import { expect } from 'chai';
import { join } from 'node:path';
import { Queue, QueueEvents } from 'bullmq';
import {
  redisConnection,
  VerificationQueue,
  verificationQueueName,
} from '../../coordinator/tasks/verification-queue.js';
import type { AuditBundle } from '../../protocol/audit.js';
import { runClients } from '../helpers/clients.js';
import { dataRoot, smallTask, writeShards } from '../helpers/fixtures.js';
import { spawnWorker } from '../helpers/processes.js';
import { type Redis, startRedis } from '../helpers/redis.js';
import { createTask, eventually, getRounds } from '../helpers/rest.js';
import { tempDir } from '../helpers/temp.js';
import { startTestCoordinator } from '../helpers/servers.js';

describe('verification workers', function () {
  const dir = tempDir();
  let redis: Redis;
  /** The finished run of the first test: its proofs and key feed the others. */
  let bundle: AuditBundle | undefined;

  before(async () => {
    redis = await startRedis();
  });
  after(() => redis?.stop());

  it("trains a task whose proofs are verified by two zkfl worker processes, not the coordinator's pool", async () => {
    const workers = await Promise.all([spawnWorker(redis.url), spawnWorker(redis.url)]);
    const coordinator = await startTestCoordinator({ dataRoot, port: 0, dataDir: join(dir, 'c'), redis: redis.url });
    try {
      const task = await createTask(coordinator.url, smallTask({ rounds: 2 }));
      const shards = writeShards(dir, [300, 300]);
      const results = await Promise.all(
        runClients(
          coordinator.url,
          task.id,
          shards,
          ['a', 'b'].map((k) => join(dir, k)),
        ),
      );
      expect(results.map((result) => result.status)).to.deep.equal(['completed', 'completed']);
      const rounds = await getRounds(coordinator.url, task.id);
      expect(rounds.map((round) => [round.proofsVerified, round.proofsRejected])).to.deep.equal([
        [2, 0],
        [2, 0],
      ]);
      const queue = new Queue(verificationQueueName, { connection: redisConnection(redis.url) });
      expect((await queue.getJobCounts('completed')).completed).to.equal(4);
      await queue.close();
      bundle = await coordinator.coordinator.auditBundle(task.id);
    } finally {
      await coordinator.close();
      for (const worker of workers) worker.child.kill('SIGTERM');
    }
  });

  it('verifies a proof sent twice once, and refuses a changed one', async () => {
    if (!bundle) throw new Error('no finished run: the first test failed');
    const worker = await spawnWorker(redis.url);
    const queue = new VerificationQueue(redis.url, 30_000);
    const jobs = new Queue(verificationQueueName, { connection: redisConnection(redis.url) });
    try {
      const verifier = queue.verifier(JSON.parse(bundle.verificationKey!) as object);
      const [chunk] = bundle.rounds[0]!.record.accepted[0]!.proofs;
      const before = (await jobs.getJobCounts('completed')).completed!;
      expect(await verifier.verify(chunk!.proof, chunk!.publicSignals)).to.equal(true);
      expect(await verifier.verify(chunk!.proof, chunk!.publicSignals)).to.equal(true);
      expect((await jobs.getJobCounts('completed')).completed).to.equal(before);
      const changed = [chunk!.publicSignals[0]!, String(BigInt(chunk!.publicSignals[1]!) + 1n)];
      expect(await verifier.verify(chunk!.proof, changed)).to.equal(false);
    } finally {
      await Promise.all([queue.close(), jobs.close()]);
      worker.child.kill('SIGTERM');
    }
  });

  it('finishes the jobs of a worker killed mid-job on another worker', async () => {
    if (!bundle) throw new Error('no finished run: the first test failed');
    const queue = new VerificationQueue(redis.url, 120_000);
    const events = new QueueEvents(verificationQueueName, { connection: redisConnection(redis.url) });
    let stalled = 0;
    events.on('stalled', () => void stalled++);
    const first = await spawnWorker(redis.url, 2);
    try {
      const verifier = queue.verifier(JSON.parse(bundle.verificationKey!) as object);
      const [chunk] = bundle.rounds[1]!.record.accepted[0]!.proofs;
      // 300 distinct jobs (the real proof, and 299 with another statement signal: as costly, and false).
      const signals = Array.from({ length: 300 }, (_, k) =>
        k === 0
          ? chunk!.publicSignals
          : [chunk!.publicSignals[0]!, String(BigInt(chunk!.publicSignals[1]!) + BigInt(k))],
      );
      const verdicts = Promise.all(signals.map((publicSignals) => verifier.verify(chunk!.proof, publicSignals)));
      const jobs = new Queue(verificationQueueName, { connection: redisConnection(redis.url) });
      await eventually(
        async () => ((await jobs.getJobCounts('completed')).completed! >= 20 ? true : undefined),
        'the first worker to verify some proofs',
      );
      await jobs.close();
      first.child.kill('SIGKILL');
      await first.exited;
      const second = await spawnWorker(redis.url, 2);
      try {
        const results = await verdicts;
        expect([results[0], results.slice(1).every((valid) => !valid)]).to.deep.equal([true, true]);
        // The job the killed worker held was handed on, not lost.
        expect(stalled).to.be.greaterThan(0);
      } finally {
        second.child.kill('SIGTERM');
      }
    } finally {
      await Promise.all([queue.close(), events.close()]);
    }
  });
});
