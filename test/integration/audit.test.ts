import { expect } from 'chai';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseEther } from 'ethers';
import { loadOrCreateWallet } from '../../common/identity.js';
import type { Devnet } from '../../contracts/devnet.js';
import { escrowTask } from '../../contracts/escrow.js';
import { acceptedRoot } from '../../contracts/accepted-set.js';
import { writeDeployment } from '../../contracts/deployment.js';
import type { RunningCoordinator } from '../../coordinator/server.js';
import { type AuditBundle, type RoundRecord, signRecord } from '../../protocol/audit.js';
import { type AuditOptions, auditRun } from '../../verifier/run.js';
import { fetchBundle, readBundle } from '../../verifier/bundle.js';
import { circuit } from '../helpers/circuits.js';
import { smallTask, writeShards, dataRoot } from '../helpers/fixtures.js';
import { spawnZkfl } from '../helpers/processes.js';
import { createTask } from '../helpers/rest.js';
import { tempDir } from '../helpers/temp.js';
import { runClients } from '../helpers/clients.js';
import { startTestCoordinator, startTestDevnet } from '../helpers/servers.js';

describe('zkfl verify: an independent audit of a run', function () {
  this.timeout(300_000);
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
    const exported = spawnZkfl([
      'audit',
      'export',
      '--coordinator',
      coordinator.url,
      '--task',
      task.id,
      '--out',
      join(dir, 'bundle'),
    ]);
    expect(await exported.exited, exported.stderr.join('\n')).to.equal(0);
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
    const cli = spawnZkfl([
      ...['verify', '--bundle', join(dir, 'bundle'), '--json'],
      ...['--rpc', devnet.chain.url, '--deployment', join(dir, 'deployment.json')],
    ]);
    let stdout = '';
    cli.child.stdout!.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    expect(await cli.exited, cli.stderr.join('\n')).to.equal(0);
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

  it('names a changed score, an amount off the reward rule, a missing consent and changed terms', async () => {
    const score = await tampered((copy) => void (round1(copy).accepted[0]!.score += 0.01), true);
    // Recomputing from the published updates catches the score; the amounts no longer follow from the scores.
    expect(await kinds(score)).to.deep.equal(['1:amounts', '1:score']);
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
  });

  it('names a verification key that is not the one the on-chain verifier holds', async () => {
    const testKey = readFileSync((await circuit('test')).verificationKey, 'utf8');
    const otherKey = await tampered((copy) => {
      copy.verificationKey = testKey;
      copy.task.zk.verificationKeySha256 = createHash('sha256').update(testKey).digest('hex');
    });
    expect(await kinds(otherKey, online)).to.include('null:verification-key');
  });
});
