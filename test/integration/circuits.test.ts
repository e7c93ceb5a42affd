import { expect } from 'chai';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { circuitParams } from '../../circuits/params.js';
import type { RunningCoordinator } from '../../coordinator/server.js';
import type { RoundEndPayload, RoundStartPayload } from '../../protocol/events.js';
import type { TaskView } from '../../protocol/rest.js';
import { circuit } from '../helpers/circuits.js';
import { provenUpdate, smallUpdate } from '../helpers/contribution.js';
import { connect, joinWithConsent, next, randomWallet, request } from '../helpers/raw-client.js';
import { createTask } from '../helpers/rest.js';
import { tempDir } from '../helpers/temp.js';
import { startTestCoordinator } from '../helpers/servers.js';

describe('one coordinator, tasks of different circuits', function () {
  const dir = tempDir();
  let coordinator: RunningCoordinator;

  before(async () => {
    await Promise.all([circuit('test'), circuit('test16')]);
    coordinator = await startTestCoordinator({
      dataRoot: dir,
      port: 0,
      dataDir: join(dir, 'coordinator'),
      circuit: 'test',
    });
  });
  after(() => coordinator.close());

  /** A task on a 4-feature CSV with a 16-parameter model: one chunk of the 30-value test circuits. */
  function tinyTask(bits: 6 | 16) {
    const evaluation = join(dir, 'eval.csv');
    writeFileSync(evaluation, Array.from({ length: 20 }, (_, i) => `${i % 3},${i % 5},${i % 2},1,${i % 2}`).join('\n'));
    return {
      model: { preset: 'mlp' as const, hidden: [2] },
      inputShape: [4],
      classes: 2,
      rounds: 1,
      clientsPerRound: { min: 1, target: 1 },
      quantization: { bits },
      evaluation: { path: 'eval.csv' },
    };
  }

  /** Sends `task` a small update proven with the circuit of `provenFor` (by default the task's own). */
  async function acceptsAProvenUpdate(task: TaskView, provenFor: TaskView = task): Promise<string> {
    const wallet = randomWallet();
    const socket = await connect(coordinator.url, wallet);
    const started = next<RoundStartPayload>(socket, 'round:start');
    await joinWithConsent(socket, coordinator.url, wallet, task.id);
    const { modelHash } = await started;
    const update = await provenUpdate(
      { ...task, zk: provenFor.zk },
      { taskId: task.id, round: 1, address: wallet.address, modelHash },
      smallUpdate(task.numParams),
    );
    const ended = next<RoundEndPayload>(socket, 'round:end');
    const q = task.zk.valueBits === 16 ? widen(update.q) : update.q;
    const reply = await request(socket, 'update', { ...update, q });
    if (reply.ok) expect((await ended).proofsVerified).to.equal(1);
    socket.disconnect();
    return reply.ok ? 'accepted' : reply.error.code;
  }

  it("verifies each task's proofs against its own circuit's key", async () => {
    // The 6-bit task first: its circuit's verifier pool must not serve the 16-bit task after it.
    const narrow = await createTask(coordinator.url, tinyTask(6));
    const wide = await createTask(coordinator.url, tinyTask(16));
    expect([narrow.zk.circuit, wide.zk.circuit]).to.deep.equal([circuitParams.test.name, circuitParams.test16.name]);
    expect([narrow.zk.valueBits, wide.zk.valueBits]).to.deep.equal([6, 16]);
    expect(narrow.zk.verificationKeySha256).to.not.equal(wide.zk.verificationKeySha256);
    expect(await acceptsAProvenUpdate(narrow)).to.equal('accepted');
    expect(await acceptsAProvenUpdate(wide)).to.equal('accepted');
  });

  it("refuses proofs made with another circuit than the task's: their statement names that circuit", async () => {
    const narrow = await createTask(coordinator.url, tinyTask(6));
    const wide = await createTask(coordinator.url, tinyTask(16));
    // The small values fit both circuits; proven with the 16-bit one, the statement names its key.
    expect(await acceptsAProvenUpdate(narrow, wide)).to.equal('PROOF_MISMATCH');
  });
});

/** The same values as int16 (16-bit tasks take two bytes per value). */
function widen(bytes: Uint8Array): Uint8Array {
  return new Uint8Array(Int16Array.from(new Int8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength)).buffer);
}
