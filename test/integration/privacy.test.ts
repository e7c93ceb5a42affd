import { expect } from 'chai';
import { join } from 'node:path';
import type { RunningCoordinator } from '../../coordinator/server.js';
import type { ZkflError } from '../../common/errors.js';
import type { TaskView } from '../../protocol/rest.js';
import { type AuditBundle, signRecord } from '../../protocol/audit.js';
import { epsilonAfter } from '../../protocol/privacy.js';
import { CoordinatorApi } from '../../protocol/api.js';
import { fetchBundle } from '../../verifier/bundle.js';
import { auditRun } from '../../verifier/run.js';
import { runClients } from '../helpers/clients.js';
import { dataRoot, smallTask, writeShards } from '../helpers/fixtures.js';
import { createTask, eventually, getRounds, getWeights } from '../helpers/rest.js';
import { startTestCoordinator } from '../helpers/servers.js';
import { tempDir } from '../helpers/temp.js';
import { freeRiderTask, gaussianDirection, noiseAtBound, sendBesideHonest } from '../helpers/free-rider.js';

describe('user-level differential privacy (DP-FedAvg)', function () {
  const dir = tempDir();
  // The same two holders take part in both tasks: their ledgers add the tasks up.
  const keys = [0, 1].map((i) => join(dir, `holder-${i}.json`));
  let coordinator: RunningCoordinator;

  before(async () => {
    coordinator = await startTestCoordinator({ dataRoot, port: 0, dataDir: join(dir, 'coordinator') });
  });
  after(() => coordinator.close());
  /** The task once it is no longer running. */
  const endOf = (id: string): Promise<TaskView> =>
    eventually(async () => {
      const view = await new CoordinatorApi(coordinator.url).task(id);
      return view.status === 'running' ? undefined : view;
    }, 'the task to end');

  it('noises each released round, records its ε, ends the task before a round passes the budget, and verify recomputes it', async () => {
    // Two holders of two expected, both sampled every round: q = 1. With σ 2 one round fits the budget, two do not.
    const sigma = 2;
    const delta = 1e-5;
    const spent = (rounds: number): number => epsilonAfter(Array(rounds).fill({ q: 1, noiseMultiplier: sigma }), delta);
    const budget = (spent(1) + spent(2)) / 2;
    const task = await createTask(
      coordinator.url,
      smallTask({
        rounds: 3,
        roundDeadlineSeconds: 240,
        aggregation: { replicaDistance: 0, contributorsOnly: false },
        privacy: { delta, noiseMultiplier: sigma, targetEpsilon: budget, population: 2 },
      }),
    );
    const api = new CoordinatorApi(coordinator.url);

    await step('the terms state the guarantee, and what it does not cover, before anyone agrees', async () => {
      const { terms } = await api.terms(task.id);
      expect(terms.privacy).to.include({ delta, targetEpsilon: budget, noiseMultiplier: sigma, population: 2 });
      expect(terms.privacy!.notCovered).to.match(/coordinator.*in the clear.*scores and amounts/);
    });

    await step(
      'round 1 is released with its noise and ε; round 2 would pass the budget, so nobody trains for it',
      async () => {
        const shards = writeShards(dir, [300, 300]);
        const results = await Promise.all(runClients(coordinator.url, task.id, shards, keys));
        // Each holder's summary says what the task spent of its privacy.
        for (const result of results) {
          expect(result.privacy!.epsilon).to.be.closeTo(spent(1), 1e-9);
          expect(result.privacy!.ledger).to.deep.equal({ epsilon: result.privacy!.epsilon, delta });
        }
        const ended = await endOf(task.id);
        expect(ended.status).to.equal('completed');
        expect(ended.reason).to.match(/^privacy budget: round 2 would bring ε to \d/);
        const rounds = await getRounds(coordinator.url, task.id);
        expect(rounds[0]!.epsilon).to.be.closeTo(spent(1), 1e-9);
        expect(rounds[0]!.participants).to.have.length(2);
        expect(rounds[1]).to.include({ phase: 'open', sampled: 0, epsilon: null });
      },
    );

    await step(
      "the step is the noise's size: σ·clip·√P / target, whatever the two updates hold (their sum ≤ 2·clip)",
      async () => {
        const before = await getWeights(coordinator.url, task.id, 0);
        const after = await getWeights(coordinator.url, task.id, 1);
        // The task's newest model is round 1's: round 2 never ran.
        expect(await getWeights(coordinator.url, task.id, 'latest')).to.deep.equal(after);
        const norm = Math.sqrt(after.reduce((sum, w, i) => sum + (w - before[i]!) ** 2, 0));
        const noise = (sigma * 5 * Math.sqrt(task.numParams)) / 2;
        expect(norm).to.be.within(noise * 0.93 - 5, noise * 1.07 + 5);
      },
    );

    const bundle = await fetchBundle(coordinator.url, task.id);
    await step('verify recomputes the accounting, and says what rests on the coordinator', async () => {
      const report = await auditRun(bundle);
      expect([report.ok, report.problems]).to.deep.equal([true, []]);
      expect(report.privacy!.epsilon).to.be.closeTo(spent(1), 1e-9);
      expect(report.privacy!.onTrust).to.match(/noise/);
    });

    await step('a coordinator that signs a smaller ε, or more holders than consented, is caught', async () => {
      const lie = async (edit: (record: AuditBundle['rounds'][number]['record']) => void): Promise<string[]> => {
        const copy = structuredClone(bundle);
        edit(copy.rounds[0]!.record);
        copy.rounds = await Promise.all(
          copy.rounds.map(({ record }) => signRecord(coordinator.coordinator.identity, record)),
        );
        return (await auditRun(copy)).problems.map((problem) => `${problem.kind}: ${problem.detail}`);
      };
      expect(await lie((record) => (record.privacy!.epsilon /= 2))).to.deep.equal([
        `privacy: ε is recorded as ${spent(1) / 2}; the accountant gives ${spent(1)}`,
      ]);
      const crowd = await lie((record) => Object.assign(record.privacy!, { eligible: 200, q: 0.01 }));
      expect(crowd).to.include('privacy: sampled from 200 holders; 2 consented');
    });
  });

  it("runs FLTrust under DP: the step is the noise's size, as with the mean, and the record keeps the trust private", async () => {
    const sigma = 2;
    const task = await createTask(
      coordinator.url,
      smallTask({
        rounds: 1,
        roundDeadlineSeconds: 240,
        aggregation: { rule: 'fltrust', replicaDistance: 0, leaveOutByScore: false },
        privacy: { delta: 1e-5, noiseMultiplier: sigma, population: 2 },
      }),
    );
    const shards = writeShards(dir, [300, 300]);
    await Promise.all(
      runClients(
        coordinator.url,
        task.id,
        shards,
        [0, 1].map((i) => join(dir, `fltrust-${i}.json`)),
      ),
    );
    expect((await endOf(task.id)).status).to.equal('completed');
    // The step is the noise's size, as with the mean: the two trusted terms add at most 2·clip to the sum.
    const [before, after] = [
      await getWeights(coordinator.url, task.id, 0),
      await getWeights(coordinator.url, task.id, 1),
    ];
    const norm = Math.sqrt(after.reduce((sum, w, i) => sum + (w - before[i]!) ** 2, 0));
    const noise = (sigma * 5 * Math.sqrt(task.numParams)) / 2;
    expect(norm).to.be.within(noise * 0.93 - 5, noise * 1.07 + 5);
    // Trust weights, like scores, are facts about single updates: a private round does not publish them.
    const bundle = await fetchBundle(coordinator.url, task.id);
    expect(bundle.rounds[0]!.record.accepted).to.have.length(2);
    expect(bundle.rounds[0]!.record).to.not.have.property('aggregation');
    const report = await auditRun(bundle);
    expect([report.ok, report.problems]).to.deep.equal([true, []]);
  });

  it('leaves noise at the norm bound out of a private round, judged alone, and pays it 0', async () => {
    // σ tiny, so that the step shows what the sum held: the free rider's direction, or not.
    const task = await createTask(
      coordinator.url,
      freeRiderTask({
        aggregation: { replicaDistance: 0, leaveOutByScore: false },
        privacy: { delta: 1e-5, noiseMultiplier: 0.01, population: 3 },
      }),
    );
    const shards = writeShards(join(dir, 'noise'), [300, 300]);
    const keys = [0, 1].map((i) => join(dir, `noise-honest-${i}.json`));
    const address = await sendBesideHonest(coordinator.url, task, { shards, keys }, (sender) =>
      noiseAtBound(task, 12, sender),
    );
    const direction = gaussianDirection(task.numParams, 12);
    expect((await endOf(task.id)).status).to.equal('completed');

    const { record } = (await fetchBundle(coordinator.url, task.id)).rounds[0]!;
    expect(record.scoring.leftOut).to.deep.equal([{ address, why: 'noise' }]);
    const rider = record.accepted.find((update) => update.address === address)!;
    expect([rider.score, rider.amount]).to.deep.equal([0, '0']);
    // Summed in, the noise would move the step by clip / target along its own direction; left out, by next to nothing.
    const [before, after] = [
      await getWeights(coordinator.url, task.id, 0),
      await getWeights(coordinator.url, task.id, 1),
    ];
    const along = after.reduce((sum, w, i) => sum + (w - before[i]!) * direction[i]!, 0);
    expect(Math.abs(along)).to.be.lessThan((0.2 * task.spec.clipNorm) / 3);
  });

  it('refuses, over REST with a code, a private spec with δ ≥ 1/population, ε ≤ 0, σ = 0 or an unreachable ε', async () => {
    const aggregation = { replicaDistance: 0, contributorsOnly: false };
    for (const [privacy, field] of [
      [{ delta: 0.01, noiseMultiplier: 1, population: 100 }, 'privacy.delta'],
      [{ delta: 1e-5, targetEpsilon: 0, population: 100 }, 'privacy.targetEpsilon'],
      [{ delta: 1e-5, noiseMultiplier: 0, population: 100 }, 'privacy.noiseMultiplier'],
      // No σ reaches this budget: refused at once, not searched for without end.
      [{ delta: 1e-5, targetEpsilon: 0.001, population: 100 }, 'privacy.targetEpsilon'],
    ] as const) {
      const refused = await createTask(coordinator.url, smallTask({ aggregation, privacy })).then(
        () => undefined,
        (error: unknown) => error as ZkflError,
      );
      expect(refused, JSON.stringify(privacy)).to.include({ code: 'VALIDATION_FAILED', field });
    }
  });

  it('does not release a round that sampled from fewer holders than planned when that passes the budget', async () => {
    // Planned: 2 of 100 holders a round (q 0.02); only 2 come, so the round's q is 1, and ε past the budget.
    const budget = epsilonAfter([{ q: 1, noiseMultiplier: 2 }], 1e-5) / 2;
    const task = await createTask(
      coordinator.url,
      smallTask({
        rounds: 2,
        roundDeadlineSeconds: 240,
        aggregation: { replicaDistance: 0, contributorsOnly: false },
        privacy: { delta: 1e-5, noiseMultiplier: 2, targetEpsilon: budget, population: 100 },
      }),
    );
    const shards = writeShards(dir, [200, 200]);
    const results = await Promise.all(runClients(coordinator.url, task.id, shards, keys));
    const api = new CoordinatorApi(coordinator.url);
    const ended = await endOf(task.id);
    expect(ended.status).to.equal('completed');
    expect(ended.reason).to.match(/^privacy budget: round 1 would bring ε to/);
    // Both holders trained and were accepted, but nothing of the round was released: no model, no record.
    const [round] = await getRounds(coordinator.url, task.id);
    expect(round).to.include({ phase: 'aggregating', modelHashAfter: null, epsilon: null });
    expect(round!.participants).to.have.length(2);
    expect(round!.note).to.equal(ended.reason);
    expect(ended.modelHash).to.equal(task.modelHash);
    expect(await getWeights(coordinator.url, task.id, 'latest')).to.deep.equal(
      await getWeights(coordinator.url, task.id, 0),
    );
    const report = await auditRun(await fetchBundle(coordinator.url, task.id));
    expect([report.ok, report.problems, report.rounds.length]).to.deep.equal([true, [], 0]);
    // Nothing released spends nothing; the holders' ledgers still hold the first task's ε, summed over both tasks.
    const first = epsilonAfter([{ q: 1, noiseMultiplier: 2 }], 1e-5);
    expect(results[0]!.privacy).to.deep.equal({ epsilon: 0, delta: 1e-5, ledger: { epsilon: first, delta: 2e-5 } });
    const holder = await api.holder(results[0]!.address);
    expect(holder.privacy).to.deep.equal({ epsilon: first, delta: 2e-5, composition: 'basic' });
    expect(holder.tasks.map((entry) => entry.privacy?.epsilon)).to.have.members([first, 0]);
  });
});

async function step(name: string, body: () => Promise<void>): Promise<void> {
  try {
    await body();
  } catch (error) {
    (error as Error).message = `${name}: ${(error as Error).message}`;
    throw error;
  }
}
