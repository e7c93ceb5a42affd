import { expect } from 'chai';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseEther, type Signer, Wallet } from 'ethers';
import type { ZkflError } from '../../common/errors.js';
import { CoordinatorApi } from '../../protocol/api.js';
import { loadOrCreateWallet } from '../../common/identity.js';
import type { Devnet } from '../../contracts/devnet.js';
import { escrowTask } from '../../contracts/escrow.js';
import {
  type AcceptedEntry,
  acceptedLeafAt,
  acceptedRoot,
  acceptedTotal,
  committedEntries,
} from '../../contracts/accepted-set.js';
import { writeDeployment } from '../../contracts/deployment.js';
import type { RunningCoordinator } from '../../coordinator/server.js';
import { type AuditBundle, type RoundRecord, signRecord } from '../../protocol/audit.js';
import type { AuditReport } from '../../verifier/audit.js';
import { type AuditOptions, auditRun } from '../../verifier/run.js';
import { fetchBundle, readBundle, writeBundle } from '../../verifier/bundle.js';
import { taskKey } from '../../circuits/statement.js';
import { RewardsContract, TokenContract } from '../../contracts/rewards.js';
import { signReceipt } from '../../protocol/receipt.js';
import { circuit } from '../helpers/circuits.js';
import { smallTask, writeShards, dataRoot } from '../helpers/fixtures.js';
import { runZkfl } from '../helpers/processes.js';
import { createTask } from '../helpers/rest.js';
import { tempDir } from '../helpers/temp.js';
import { runClients } from '../helpers/clients.js';
import { startTestCoordinator, startTestDevnet } from '../helpers/servers.js';

describe('zkfl verify: an independent audit of a run', function () {
  const dir = tempDir();
  let devnet: Devnet;
  let coordinator: RunningCoordinator;
  let bundle: AuditBundle;
  let online: AuditOptions;

  before(async () => {
    devnet = await startTestDevnet([await circuit('default15'), await circuit('test')]);
    coordinator = await startTestCoordinator({
      dataRoot,
      port: 0,
      dataDir: join(dir, 'coordinator'),
      chain: { rpcUrl: devnet.chain.url, deployment: devnet.deployment },
      settlement: { pollMs: 100 },
    });
    const identity = coordinator.coordinator.identity.address;
    await devnet.fund(identity);
    await devnet.mint(identity, parseEther('30'));
    const task = await createTask(
      coordinator.url,
      smallTask({
        rounds: 2,
        clientsPerRound: { min: 3, target: 3 },
        onchain: true,
        publicAudit: true,
        rewards: { perRound: String(parseEther('30')), challengeWindowSeconds: 2, answerWindowSeconds: 2 },
      }),
      devnet.owner,
    );
    await devnet.mint(await devnet.owner.getAddress(), parseEther('1000'));
    await escrowTask(devnet.owner, devnet.deployment, task, { coordinator: identity });
    const keys = [0, 1, 2].map((i) => join(dir, `key-${i}.json`));
    for (const key of keys) await devnet.fund(loadOrCreateWallet(key).address);
    const shards = writeShards(dir, [300, 300, 300]);
    await Promise.all(
      runClients(coordinator.url, task.id, shards, keys, {
        chain: { rpcUrl: devnet.chain.url, deployment: devnet.deployment },
      }),
    );
    const at = ['--coordinator', coordinator.url];
    const [exported, , why] = await runZkfl([
      'audit',
      'export',
      ...at,
      '--task',
      task.id,
      '--out',
      join(dir, 'bundle'),
    ]);
    expect(exported, why).to.equal(0);
    writeDeployment(join(dir, 'deployment.json'), devnet.deployment);
    bundle = readBundle(join(dir, 'bundle'));
    online = { chain: { provider: devnet.provider, deployment: devnet.deployment } };
  });
  after(async () => {
    await coordinator?.close();
    await devnet?.stop();
  });

  /** A copy of the bundle changed by `edit`; with `resign`, signed again by the coordinator (a lying coordinator). */
  async function tampered(edit: (copy: AuditBundle) => void, resign = false): Promise<AuditBundle> {
    const copy = structuredClone(bundle);
    edit(copy);
    if (resign) {
      copy.rounds = await Promise.all(
        copy.rounds.map(({ record }) => signRecord(coordinator.coordinator.identity, record)),
      );
    }
    return copy;
  }
  const kinds = async (changed: AuditBundle, options: AuditOptions = {}): Promise<string[]> =>
    [
      ...new Set((await auditRun(changed, options)).problems.map((problem) => `${problem.round}:${problem.kind}`)),
    ].sort();
  const round1 = (copy: AuditBundle): RoundRecord => copy.rounds[0]!.record;

  it('verifies a clean run offline from its bundle and online against the chain, from the CLI too', async () => {
    const offline = await auditRun(bundle);
    expect([offline.ok, offline.problems, offline.scores]).to.deep.equal([true, [], 'recomputed']);
    // The bundle on disk is what the public audit API serves.
    expect(await fetchBundle(coordinator.url, bundle.task.id)).to.deep.equal(bundle);
    // It streams a record at a time what the coordinator would build whole; an unknown task is answered NOT_FOUND.
    expect(bundle).to.deep.equal(await coordinator.coordinator.auditBundle(bundle.task.id));
    const unknown = await fetchBundle(coordinator.url, 't-000000000000').catch((error: ZkflError) => error.code);
    expect(unknown).to.equal('NOT_FOUND');
    // The rounds, streamed a round at a time too, are the list the coordinator holds.
    const api = new CoordinatorApi(coordinator.url);
    expect(await api.rounds(bundle.task.id)).to.deep.equal(await coordinator.coordinator.listRounds(bundle.task.id));
    expect(await api.rounds('t-000000000000').catch((error: ZkflError) => error.code)).to.equal('NOT_FOUND');
    // And the tasks, a page at a time: one per page here, to cross pages.
    const pieces: string[] = [];
    for await (const piece of coordinator.coordinator.tasksJson(1)) pieces.push(piece);
    const tasks = await coordinator.coordinator.listTasks();
    expect([JSON.parse(pieces.join('')), await api.tasks()]).to.deep.equal([tasks, tasks]);
    expect(offline.proofs.verified).to.equal(6);
    const report = await auditRun(bundle, online);
    expect([report.ok, report.problems]).to.deep.equal([true, []]);
    // Every leaf that pays anything was claimed, for exactly its amount.
    const expected = bundle.rounds.map(({ record }) => {
      const paying = record.accepted.filter((update) => BigInt(update.amount) > 0n);
      const paid = String(paying.reduce((sum, update) => sum + BigInt(update.amount), 0n));
      return [3, 3, { paid: paying.length, paidAmount: paid, challenges: 0, voided: 0, omissions: 0 }];
    });
    expect(report.rounds.map((round) => [round.accepted, round.proofsVerified, round.onchain])).to.deep.equal(expected);
    expect(bundle.consents.map((consent) => consent.termsHash)).to.deep.equal(Array(3).fill(bundle.terms.termsHash));
    const [code, stdout, stderr] = await runZkfl([
      ...['verify', '--bundle', join(dir, 'bundle'), '--json'],
      ...['--rpc', devnet.chain.url, '--deployment', join(dir, 'deployment.json')],
    ]);
    expect(code, stderr).to.equal(0);
    expect(JSON.parse(stdout)).to.include({ ok: true, chainChecked: true });
  });

  it('names a changed byte in a proof, a swapped commitment and a changed model hash, offline', async () => {
    const proofByte = await tampered((copy) => {
      const proof = round1(copy).accepted[0]!.proofs[0]!.proof;
      proof.pi_a[0] = String(BigInt(proof.pi_a[0]!) + 1n);
    });
    expect(await kinds(proofByte)).to.deep.equal(['1:proof', '1:signature']);
    const swapped = await tampered((copy) => {
      const [a, b] = round1(copy).accepted;
      [a!.commitment, b!.commitment] = [b!.commitment, a!.commitment];
    }, true);
    expect(await kinds(swapped)).to.include.members(['1:commitment', '1:accepted-root']);
    const model = await tampered((copy) => void (round1(copy).modelHashAfter = 'ab'.repeat(32)));
    expect(await kinds(model)).to.include.members(['1:signature', '2:hash-chain']);
  });

  it('names a dropped contribution, an added contributor and a payout to a non-contributor, online', async () => {
    const dropped = await tampered((copy) => {
      const record = round1(copy);
      record.accepted.pop();
      record.acceptedRoot = acceptedRoot(record.accepted);
    }, true);
    const droppedKinds = await kinds(dropped, online);
    // Offline the re-signed record is consistent except for its aggregate; the chain holds the real set and payout.
    expect(droppedKinds).to.include.members(['1:aggregate', '1:chain-accepted-set', '1:chain-payout']);
    const added = await tampered((copy) => {
      const record = round1(copy);
      record.accepted.push({ ...record.accepted[0]!, address: '0x000000000000000000000000000000000000dEaD' });
      record.acceptedRoot = acceptedRoot(record.accepted);
    }, true);
    expect(await kinds(added, online)).to.include.members(['1:statement', '1:chain-accepted-set']);
  });

  it('names a changed score, an amount off the reward rule, replicas that are not, a missing consent and changed terms', async () => {
    const score = await tampered((copy) => void (round1(copy).accepted[0]!.score += 0.01), true);
    // Recomputing from the published updates catches the score; the amounts no longer follow from the scores, in
    // round 1 and, paid over the task, in round 2, whose shortfalls round 1's scores enter.
    expect(await kinds(score)).to.deep.equal(['1:amounts', '1:score', '2:amounts']);
    const amount = await tampered((copy) => {
      const record = round1(copy);
      record.accepted[0]!.amount = String(BigInt(record.accepted[0]!.amount) + 1n);
      record.acceptedRoot = acceptedRoot(record.accepted);
    }, true);
    expect(await kinds(amount, online)).to.include.members(['1:amounts', '1:chain-accepted-set']);
    const unconsented = await tampered((copy) => void copy.consents.pop());
    expect(await kinds(unconsented)).to.deep.equal(['1:consent', '2:consent']);
    const terms = await tampered((copy) => void (copy.terms.terms.purpose = 'something else'));
    expect(await kinds(terms)).to.include('null:terms');
    // A coordinator that says two distinct updates were copies of each other (to split their pay).
    const grouped = await tampered((copy) => {
      const record = round1(copy);
      record.scoring.replicas = [record.accepted.slice(0, 2).map((update) => update.address)];
    }, true);
    expect(await kinds(grouped)).to.deep.equal(['1:replicas']);
    // One that leaves an honest update out of the model, saying why: worthless, or noise (its share in the scoring
    // set's gradient span says otherwise).
    const leftOutAs = (why: 'no value' | 'noise') =>
      tampered((copy) => {
        const record = round1(copy);
        const kept = record.accepted.find(
          ({ address }) => !record.scoring.leftOut?.some((out) => out.address === address),
        );
        record.scoring.leftOut = [...(record.scoring.leftOut ?? []), { address: kept!.address, why }];
      }, true);
    expect(await kinds(await leftOutAs('no value'))).to.include.members(['1:left-out', '1:aggregate']);
    expect(await kinds(await leftOutAs('noise'))).to.include.members(['1:noise', '1:aggregate']);
  });

  it('names a verification key that is not the one the on-chain verifier holds', async () => {
    const testKey = readFileSync((await circuit('test')).verificationKey, 'utf8');
    const otherKey = await tampered((copy) => {
      copy.verificationKey = testKey;
      copy.task.zk.verificationKeySha256 = createHash('sha256').update(testKey).digest('hex');
    });
    expect(await kinds(otherKey, online)).to.include('null:verification-key');
  });

  it('names records out of order, of another task, twice the same address, missing rounds and a missing key', async () => {
    const shuffled = await tampered((copy) => void copy.rounds.reverse());
    expect(await kinds(shuffled)).to.include.members(['1:round-order', '2:round-order']);
    const foreign = await tampered((copy) => void (round1(copy).taskId = 't-000000000000'), true);
    expect(await kinds(foreign)).to.include('1:task');
    const twice = await tampered((copy) => {
      const record = round1(copy);
      record.accepted.push(record.accepted[0]!);
      record.acceptedRoot = acceptedRoot(record.accepted);
    }, true);
    expect(await kinds(twice)).to.include('1:duplicate');
    const short = await tampered((copy) => void copy.rounds.pop());
    expect(await kinds(short)).to.include.members(['null:rounds', '1:hash-chain']);
    const keyless = await tampered((copy) => void (copy.verificationKey = null));
    expect(await kinds(keyless)).to.include('null:verification-key');
  });

  it('names what a public audit cannot recompute: missing weights or scoring set, updates unpublished or not committed', async () => {
    const noWeights = await tampered((copy) => void delete copy.initialWeights);
    expect(await kinds(noWeights)).to.include('null:public-audit');
    const noScoringSet = await tampered((copy) => void delete copy.scoringSet);
    expect(await kinds(noScoringSet)).to.include('null:public-audit');
    const unpublished = await tampered((copy) => void delete round1(copy).accepted[0]!.update, true);
    expect(await kinds(unpublished)).to.include('1:public-audit');
    const changed = await tampered((copy) => {
      const published = round1(copy).accepted[0]!.update!;
      const values = Buffer.from(published.q, 'base64');
      values[0] = values[0] === 1 ? 2 : 1;
      published.q = values.toString('base64');
    }, true);
    const shortened = await tampered((copy) => {
      const published = round1(copy).accepted[0]!.update!;
      published.q = Buffer.from(published.q, 'base64').subarray(1).toString('base64');
    }, true);
    expect(await kinds(shortened)).to.include('1:public-audit');
    expect(await kinds(changed)).to.include('1:public-audit');
  });

  it('exits non-zero from the CLI when the run does not check out', async () => {
    const broken = join(dir, 'broken');
    writeBundle(broken, await tampered((copy) => void (round1(copy).accepted[0]!.score += 1)));
    const [code, stdout] = await runZkfl(['verify', '--bundle', broken, '--json']);
    expect(code).to.equal(1);
    expect(JSON.parse(stdout)).to.include({ ok: false });
    // A bundle that is not one (here a score no loss reduction could be) is named malformed, not a crash.
    const malformed = join(dir, 'malformed');
    writeBundle(malformed, await tampered((copy) => void (round1(copy).accepted[0]!.score = 1e300), true));
    const [malformedCode, malformedOut, stderr] = await runZkfl(['verify', '--bundle', malformed, '--json']);
    expect(malformedCode, stderr).to.equal(1);
    expect(stderr).to.not.match(/RangeError|TypeError/);
    const [problem] = (JSON.parse(malformedOut) as AuditReport).problems;
    expect(problem).to.deep.include({ round: 1, kind: 'malformed' });
    expect(problem!.detail).to.match(/^rounds\.0\.record\.accepted\.0\.score: /);
  });

  /** The copy's coordinator posts its bond (minted for it) on the escrowed task `key`; returns it on the chain. */
  async function bondedCoordinator(key: string) {
    const { provider, deployment } = devnet;
    const rewards = new RewardsContract(deployment.rewards, provider);
    const coordinatorKey = coordinator.coordinator.identity.connect(provider);
    const { coordinatorBond } = (await rewards.task(key))!;
    await devnet.mint(coordinatorKey.address, coordinatorBond);
    await (
      await new TokenContract(deployment.token, coordinatorKey).approve(deployment.rewards, coordinatorBond)
    ).wait();
    const asCoordinator = rewards.connect(coordinatorKey);
    await (await asCoordinator.postBond(key, coordinatorBond)).wait();
    return { coordinatorKey, asCoordinator };
  }

  /**
   * Inside round 1's challenge window: a challenge of its first leaf nobody answers, and an omission claim by a
   * holder the coordinator gave a receipt to but left out; both resolved once the answer window passed.
   */
  async function challengedAndOmitted(key: string, entries: AcceptedEntry[], coordinatorKey: Signer): Promise<void> {
    const { provider, deployment } = devnet;
    const rewards = new RewardsContract(deployment.rewards, provider);
    const { challengeBond, answerWindow } = (await rewards.task(key))!;
    const challenger = Wallet.createRandom().connect(provider);
    const omitted = Wallet.createRandom().connect(provider);
    for (const wallet of [challenger, omitted]) await devnet.fund(wallet.address);
    await devnet.mint(challenger.address, challengeBond);
    await (await new TokenContract(deployment.token, challenger).approve(deployment.rewards, challengeBond)).wait();
    const doubted = acceptedLeafAt(entries, 0)!;
    await (await rewards.connect(challenger).challenge(key, 1, doubted.leaf, doubted.proof)).wait();
    const commitment = '0x' + '11'.repeat(32);
    const receipt = await signReceipt(
      coordinatorKey,
      { taskKey: key, round: 1, contributor: omitted.address, updateCommitment: commitment },
      { chainId: deployment.chainId, verifyingContract: deployment.rewards },
    );
    await (await rewards.connect(omitted).claimOmission(key, 1, commitment, receipt.signature)).wait();
    await provider.send('evm_increaseTime', [Number(answerWindow) + 1]);
    await (await rewards.connect(challenger).resolveChallenge(key, 1, doubted.leaf.index)).wait();
    await (await rewards.connect(omitted).resolveOmission(key, 1, omitted.address)).wait();
  }

  it('names what the chain says went wrong: another H_r, a round never closed, a voided leaf, an omission paid', async () => {
    // The run again under another task id, re-signed by its coordinator; this test writes that task's on-chain story.
    const copy = await tampered((edited) => {
      // With windows this test need not race: it acts inside them, then moves the chain's clock past them.
      const windows = { challengeWindowSeconds: 3600, answerWindowSeconds: 3600 };
      // The escrow's deadline leaves the longer windows and the claim period after the last round, as it must, with
      // a day to spare for the time this file takes before the escrow.
      const deadline = edited.task.spec.rewards.deadline! + 2 * 3600 + 86_400;
      const rewards = { ...edited.task.spec.rewards, ...windows, deadline };
      edited.task = { ...edited.task, id: 't-0000000c4a1e', spec: { ...edited.task.spec, rewards } };
      for (const { record } of edited.rounds) record.taskId = edited.task.id;
    }, true);
    const key = taskKey(copy.task.id);
    await escrowTask(devnet.owner, devnet.deployment, copy.task, {
      coordinator: coordinator.coordinator.identity.address,
    });
    const { coordinatorKey, asCoordinator } = await bondedCoordinator(key);
    const [first, second] = copy.rounds.map(({ record }) => record);
    const entries = committedEntries(first!.accepted);
    await (await asCoordinator.openRound(key, 1, '0x' + first!.modelHashBefore)).wait();
    await (
      await asCoordinator.closeRound(key, 1, acceptedRoot(entries), entries.length, acceptedTotal(entries))
    ).wait();
    // Round 2 opens on another model and never closes.
    await (await asCoordinator.openRound(key, 2, '0x' + 'ab'.repeat(32))).wait();
    await challengedAndOmitted(key, entries, coordinatorKey);

    expect(await kinds(copy, online)).to.include.members([
      '1:chain-voided',
      '1:chain-omission',
      '2:chain-model-hash',
      '2:chain-round',
    ]);
    expect(second!.round).to.equal(2);
    // And a task the chain has never heard of.
    const unknown = await tampered((edited) => void (edited.task = { ...edited.task, id: 't-00000000dead' }));
    expect(await kinds(unknown, online)).to.include('null:chain');
  });
});
