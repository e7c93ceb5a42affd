import { expect } from 'chai';
import { join } from 'node:path';
import { decodeBase64 } from 'ethers';
import type { RunningCoordinator } from '../../coordinator/server.js';
import type { RoundStartPayload } from '../../protocol/events.js';
import { decodeValues } from '../../circuits/codec.js';
import { signRecord } from '../../protocol/audit.js';
import { renderTerms } from '../../protocol/terms-text.js';
import { fetchBundle } from '../../verifier/bundle.js';
import { auditRun } from '../../verifier/run.js';
import { provenUpdate, quantizedAsClient } from '../helpers/contribution.js';
import { dataRoot, smallTask, writeShards } from '../helpers/fixtures.js';
import { runClients } from '../helpers/clients.js';
import { connect, joinWithConsent, next, randomWallet, request } from '../helpers/raw-client.js';
import { createTask, eventually, getWeights } from '../helpers/rest.js';
import { startTestCoordinator } from '../helpers/servers.js';
import { tempDir } from '../helpers/temp.js';

describe('robust aggregation', function () {
  const dir = tempDir();
  let coordinator: RunningCoordinator;

  before(async () => {
    coordinator = await startTestCoordinator({ dataRoot, port: 0, dataDir: join(dir, 'coordinator') });
  });
  after(() => coordinator.close());

  /** A task of one round with three honest holders and a poisoner pushing every weight up, as far as the bound lets. */
  async function poisonedRound(aggregation: Record<string, unknown>, seed: number) {
    const task = await createTask(
      coordinator.url,
      smallTask({
        rounds: 1,
        clientsPerRound: { min: 4, target: 4 },
        roundDeadlineSeconds: 240,
        aggregation: { replicaDistance: 0, contributorsOnly: false, ...aggregation },
        publicAudit: true,
        seed,
      }),
    );
    const wallet = randomWallet();
    const socket = await connect(coordinator.url, wallet);
    const started = next<RoundStartPayload>(socket, 'round:start');
    expect(await joinWithConsent(socket, coordinator.url, wallet, task.id)).to.include({ ok: true });
    const honest = Promise.all(
      runClients(
        coordinator.url,
        task.id,
        writeShards(dir, [400, 400, 400]),
        [0, 1, 2].map((i) => join(dir, `honest-${seed}-${i}.json`)),
      ),
    );
    const { modelHash } = await started;
    const push = new Float32Array(task.numParams).fill(1);
    const poison = quantizedAsClient(task, push, wallet.address, 1);
    const statement = { taskId: task.id, round: 1, address: wallet.address, modelHash };
    const sent = await provenUpdate(task, statement, poison.q, undefined, poison.fractionBits);
    expect(await request(socket, 'update', sent)).to.include({ ok: true });
    await honest;
    socket.disconnect();

    const bundle = await eventually(() => fetchBundle(coordinator.url, task.id).catch(() => undefined), 'the bundle');
    const record = bundle.rounds[0]!.record;
    expect(record.accepted).to.have.length(4);
    // Each update as its values (one chunk), the poisoner's and the honest ones.
    const values = record.accepted.map((update) => {
      const q = decodeValues(decodeBase64(update.update!.q), task.numParams, task.zk.valueBits)!;
      return { address: update.address, values: Array.from(q, (v) => v * 2 ** -update.fractionBits[0]!) };
    });
    const [w0, w1] = [await getWeights(coordinator.url, task.id, 0), await getWeights(coordinator.url, task.id, 1)];
    const moved = w1.reduce((sum, w, i) => sum + (w - w0[i]!), 0) / task.numParams;
    const mean = values.reduce((sum, { values: v }) => sum + v.reduce((a, b) => a + b, 0), 0) / 4 / task.numParams;
    const poisonerPush = values.find((v) => v.address === wallet.address)!.values[0]!;
    return { bundle, record, poisoner: wallet.address, moved, mean, poisonerPush };
  }

  it('moves the model by the coordinate-wise median: a poisoner at the norm bound barely pulls it, and verify agrees', async () => {
    const { bundle, moved, mean, poisonerPush } = await poisonedRound({ rule: 'median' }, 4);
    // The mean would move every weight by about a quarter of the poisoner's push; the median by far less.
    expect(mean).to.be.greaterThan(poisonerPush / 5);
    expect(Math.abs(moved)).to.be.lessThan(poisonerPush / 20);
    // verify computes the same median from the published updates, and the same scores.
    const report = await auditRun(bundle);
    expect([report.ok, report.problems, report.scores]).to.deep.equal([true, [], 'recomputed']);
  });

  it("FLTrust: a poisoner pointing away from the owner's update is barely trusted, and verify retrains the root", async () => {
    const { bundle, record, poisoner, moved, mean, poisonerPush } = await poisonedRound({ rule: 'fltrust' }, 5);
    // The terms a holder agreed to name the rule and its power.
    expect(bundle.terms.terms.weights.robust).to.deep.equal({ rule: 'fltrust', trustExponent: 2 });
    expect(renderTerms(bundle.terms)).to.match(/FLTrust: cosine to the power 2/);
    const trust = new Map(record.aggregation!.trust.map(({ address, trust }) => [address, trust]));
    expect(trust.size).to.equal(4);
    const honestTrust = [...trust].filter(([address]) => address !== poisoner).map(([, t]) => t);
    expect(Math.max(trust.get(poisoner)!, 1e-3)).to.be.lessThan(Math.min(...honestTrust) / 10);
    expect(mean).to.be.greaterThan(poisonerPush / 5);
    expect(Math.abs(moved)).to.be.lessThan(poisonerPush / 20);
    const report = await auditRun(bundle);
    expect([report.ok, report.problems, report.scores]).to.deep.equal([true, [], 'recomputed']);

    // A coordinator that records (and signs) more trust in the poisoner than the root gives is caught.
    const lying = structuredClone(bundle);
    const forged = lying.rounds[0]!.record;
    forged.aggregation!.trust.find(({ address }) => address === poisoner)!.trust = Math.max(...honestTrust);
    lying.rounds[0] = await signRecord(coordinator.coordinator.identity, forged);
    const kinds = (await auditRun(lying)).problems.map(({ round, kind }) => `${round}:${kind}`);
    expect(kinds).to.include.members(['1:trust', '1:aggregate']);
    // And one that leaves the trust out of its record.
    delete forged.aggregation;
    lying.rounds[0] = await signRecord(coordinator.coordinator.identity, forged);
    expect((await auditRun(lying)).problems.map(({ round, kind }) => `${round}:${kind}`)).to.include('1:trust');
  });
});
