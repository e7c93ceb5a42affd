import { expect } from 'chai';
import { CoordinatorApi } from '../../protocol/api.js';
import { ZkflError } from '../../common/errors.js';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { type JsonRpcProvider, parseEther, type Signer, Wallet } from 'ethers';
import { acceptedLeafAt, leafClaim } from '../../contracts/accepted-set.js';
import { ClientSettlement } from '../../client/core/settlement.js';
import { owedFile } from '../../client/owed-file.js';
import type { OwedContribution } from '../../client/core/settling.js';
import { receiptSigner } from '../../protocol/receipt.js';
import { taskKey } from '../../circuits/statement.js';
import { loadOrCreateWallet } from '../../common/identity.js';
import type { Deployment } from '../../contracts/deployment.js';
import type { Devnet } from '../../contracts/devnet.js';
import { escrowTask } from '../../contracts/escrow.js';
import { RewardsContract, TokenContract } from '../../contracts/rewards.js';
import type { RunningCoordinator } from '../../coordinator/server.js';
import { lastOpening, type TaskSpecInput } from '../../protocol/task-spec.js';
import { rewardAmounts, taskAmounts } from '../../protocol/reward-rule.js';
import { fetchBundle } from '../../verifier/bundle.js';
import { auditRun } from '../../verifier/run.js';
import { circuit } from '../helpers/circuits.js';
import { smallTask, writeShards, dataRoot } from '../helpers/fixtures.js';
import { createTask, eventually, getRounds, getWeights, patienceSeconds } from '../helpers/rest.js';
import { type TcpProxy, tcpProxy } from '../helpers/tcp-proxy.js';
import { stopAfter } from '../helpers/cleanup.js';
import { tempDir } from '../helpers/temp.js';
import { runClients } from '../helpers/clients.js';
import { handScales, provenUpdate, smallUpdate, trainedUpdate } from '../helpers/contribution.js';
import { connect, joinWithConsent, next, randomWallet, request } from '../helpers/raw-client.js';
import type { RoundStartPayload } from '../../protocol/events.js';
import type { SentValues } from '../helpers/free-rider.js';
import type { RoundView, TaskView } from '../../protocol/rest.js';
import type { ClientResult } from '../../client/client.js';
import { startTestCoordinator, startTestDevnet } from '../helpers/servers.js';

const REWARD_PER_ROUND = parseEther('90');
const fastSettlement = { pollMs: 100, maxRetryMs: 500, receiptTimeoutMs: 10_000, disputePollMs: 300 };

/** A small onchain task paying REWARD_PER_ROUND per round, with short settlement windows. */
function onchainTask(overrides: Partial<TaskSpecInput> = {}): TaskSpecInput {
  return smallTask({
    onchain: true,
    rewards: { perRound: String(REWARD_PER_ROUND), challengeWindowSeconds: 3, answerWindowSeconds: 3 },
    ...overrides,
  });
}

describe('on-chain rewards, end to end', function () {
  const dir = tempDir();
  let devnet: Devnet;
  let provider: JsonRpcProvider;
  let owner: Signer;
  let deployment: Deployment;
  let proxy: TcpProxy;

  before(async () => {
    devnet = await startTestDevnet([await circuit('default15')]);
    ({ provider, owner, deployment } = devnet);
    await devnet.mint(await owner.getAddress(), parseEther('1000000'));
    proxy = await tcpProxy(new URL(devnet.chain.url));
  });
  after(async () => {
    await proxy.close();
    await devnet.stop();
  });

  /** A coordinator that reaches the chain through the proxy, so a test can cut it off. */
  async function coordinatorOn(dataDir: string, port = 0): Promise<RunningCoordinator> {
    const running = await startTestCoordinator({
      dataRoot,
      port,
      dataDir,
      chain: { rpcUrl: proxy.url, deployment },
      settlement: fastSettlement,
    });
    await devnet.fund(running.coordinator.identity.address);
    // Its bond, in reward tokens.
    await devnet.mint(running.coordinator.identity.address, REWARD_PER_ROUND * 10n);
    return running;
  }

  function clients(
    url: string,
    taskId: string,
    shards: string[],
    keys: string[],
    settleTimeoutSeconds = patienceSeconds,
  ) {
    return runClients(url, taskId, shards, keys, {
      chain: { rpcUrl: devnet.chain.url, deployment },
      settleTimeoutSeconds,
    });
  }

  async function fundedKeys(name: string, count: number): Promise<string[]> {
    const keys = Array.from({ length: count }, (_, i) => join(dir, name, `key-${i}.json`));
    for (const key of keys) await devnet.fund(loadOrCreateWallet(key).address);
    return keys;
  }

  /** The rounds of the task's `name` events, in order. */
  const events = async (name: string, key: string): Promise<number[]> =>
    (await new RewardsContract(deployment.rewards, provider).events(name, key)).map((log) => Number(log.args[1]));

  /** What each contributor is owed over the whole task: the sum of its rounds' amounts. */
  const owedIn =
    (rounds: RoundView[]) =>
    (address: string): bigint =>
      rounds.reduce(
        (sum, round) => sum + BigInt(round.participants.find((p) => p.address === address)?.amount ?? '0'),
        0n,
      );

  /** Each is paid what its leaves say (its share of the rounds' pools by its scores), no more than the pools so far. */
  async function expectPaidWhatIsOwed(results: ClientResult[], rounds: RoundView[]): Promise<void> {
    const owed = owedIn(rounds);
    let total = 0n;
    for (const [r, round] of rounds.entries()) {
      total += round.participants.reduce((sum, p) => sum + BigInt(p.amount!), 0n);
      expect(total <= BigInt(r + 1) * REWARD_PER_ROUND, `rounds 1-${r + 1} paid ${total}`).to.equal(true);
    }
    expect(results.map((result) => [result.roundsContributed, result.rewards])).to.deep.equal(
      results.map((result) => [2, { claimed: String(owed(result.address)), owed: 0, omitted: 0 }]),
    );
    const token = new TokenContract(deployment.token, provider);
    for (const result of results) expect(await token.balanceOf(result.address)).to.equal(owed(result.address));
  }

  /** Every accepted update came with a receipt signed by the task's on-chain coordinator; an edited one is not. */
  async function expectReceiptsSignedBy(coordinator: string, kept: OwedContribution[], key: string): Promise<void> {
    expect(kept.map((entry) => [entry.round, entry.state, receiptSigner(entry.receipt)])).to.deep.equal([
      [1, 'claimed', coordinator],
      [2, 'claimed', coordinator],
    ]);
    expect((await new RewardsContract(deployment.rewards, provider).task(key))!.coordinator).to.equal(coordinator);
    expect(receiptSigner({ ...kept[0]!.receipt, round: 2 })).to.not.equal(coordinator);
  }

  /**
   * The settlement timeline the dashboard shows: each round opened and closed on-chain, with its transaction; then
   * what everyone else did, as the chain recorded it: the owner's escrow, then every claim with its amount.
   */
  async function expectSettlementShown(api: CoordinatorApi, taskId: string, rounds: RoundView[]): Promise<void> {
    const { actions } = await api.settlement(taskId);
    const timeline = actions.filter((action) => action.kind !== 'bond');
    expect(timeline.map((action) => `${action.round} ${action.kind} ${action.status}`).sort()).to.deep.equal([
      '1 close done',
      '1 open done',
      '2 close done',
      '2 open done',
    ]);
    for (const action of timeline) expect(action.txHash).to.match(/^0x[0-9a-f]{64}$/);
    const claims = await new RewardsContract(deployment.rewards, provider).events('RewardClaimed', taskKey(taskId));
    const seen = await eventually(async () => {
      const { events: observed } = await api.settlement(taskId);
      return observed.filter((event) => event.kind === 'claimed').length === claims.length ? observed : undefined;
    }, 'the claims to be read from the chain');
    expect(seen[0]).to.include({ kind: 'escrowed', round: null, subject: await owner.getAddress() });
    const paidIn = (round: number, address: string): string | undefined =>
      rounds[round - 1]!.participants.find((p) => p.address === address)?.amount ?? undefined;
    for (const event of seen.filter((candidate) => candidate.kind === 'claimed')) {
      expect(event.amount).to.equal(paidIn(event.round!, event.subject));
    }
  }

  /** A data holder's page says what it claimed, and in which rounds. */
  async function expectHolderPages(api: CoordinatorApi, taskId: string, paying: string[], owed: bigint[]) {
    const claims = await new RewardsContract(deployment.rewards, provider).events('RewardClaimed', taskKey(taskId));
    for (const [i, address] of paying.entries()) {
      const [joined] = (await api.holder(address)).tasks;
      const itsClaims = claims.filter((log) => log.args[2] === address).map((log) => Number(log.args[1]));
      expect([joined!.claimed, joined!.claimedRounds]).to.deep.equal([String(owed[i]), itsClaims]);
      expect(itsClaims).to.have.length.above(0);
    }
  }

  /** A client works for an onchain task only once an escrow that can pay it exists. */
  async function expectEscrowChecked(task: TaskView, key: string, coordinator: string): Promise<void> {
    const settlement = new ClientSettlement({
      store: owedFile(join(dir, 'paid', 'probe.json')),
      wallet: loadOrCreateWallet(key).connect(provider),
      deployment,
      acceptedSet: () => Promise.reject(new Error('unused')),
      pollMs: 100,
    });
    const verifier = deployment.verifiers[task.zk.circuit]!.address;
    expect(await settlement.escrowProblem(task, coordinator, verifier)).to.equal('');
    expect(await settlement.escrowProblem(task, await owner.getAddress(), verifier)).to.match(/names coordinator/);
    expect(await settlement.escrowProblem(task, coordinator, '0x' + '00'.repeat(20))).to.match(/verifier/);
    // The task's owner is the address that signed in to create it: an escrow from any other does not pay it.
    expect(task.spec.owner).to.equal(await owner.getAddress());
    const otherOwner = { ...task, spec: { ...task.spec, owner: Wallet.createRandom().address } };
    expect(await settlement.escrowProblem(otherOwner, coordinator, verifier)).to.match(/not the task's owner/);
    expect(await settlement.escrowProblem({ ...task, id: 't-never-escrowed' }, coordinator, verifier)).to.match(
      /no reward pool/,
    );
  }

  it('waits for the escrow, then pays every accepted contributor its amount of every round, in one claim', async () => {
    const coordinator = await coordinatorOn(join(dir, 'paid'));
    try {
      const api = new CoordinatorApi(coordinator.url);
      const info = await api.info();
      expect(info.chain?.rewards).to.equal(deployment.rewards);
      const task = await createTask(
        coordinator.url,
        onchainTask({ rounds: 2, clientsPerRound: { min: 3, target: 3 } }),
        owner,
      );
      const keys = await fundedKeys('paid', 3);
      const running = clients(coordinator.url, task.id, writeShards(dir, [300, 300, 300]), keys);
      // All three joined: a round that did not wait for the escrow would have been started, and sent to them, by now.
      await eventually(async () => ((await api.task(task.id)).connected === 3 ? true : undefined), 'three joins');
      const [waiting] = await getRounds(coordinator.url, task.id);
      expect(waiting!.attempts, 'no round starts before the escrow').to.equal(0);

      await escrowTask(owner, deployment, task, { coordinator: info.coordinator });
      const results = await Promise.all(running);
      const rounds = await getRounds(coordinator.url, task.id);
      await expectPaidWhatIsOwed(results, rounds);
      const key = taskKey(task.id);
      // One claim transaction per contributor, for both rounds.
      const owed = owedIn(rounds);
      const paying = results.map((result) => result.address).filter((address) => owed(address) > 0n);
      const claims = await new RewardsContract(deployment.rewards, provider).events('RewardClaimed', key);
      expect(new Set(claims.map((log) => log.transactionHash)).size).to.equal(paying.length);
      expect(await events('RoundOpened', key)).to.deep.equal([1, 2]);
      expect(await events('RoundClosed', key)).to.deep.equal([1, 2]);
      const onchain = await new RewardsContract(deployment.rewards, provider).round(key, 2);
      expect(onchain.modelHash).to.equal('0x' + rounds[1]!.modelHashBefore);
      expect(onchain.acceptedCount).to.equal(3);

      const keptFile = join(dir, 'paid', `settlement-${results[0]!.address}.json`);
      await expectReceiptsSignedBy(
        info.coordinator,
        JSON.parse(readFileSync(keptFile, 'utf8')) as OwedContribution[],
        key,
      );
      await expectSettlementShown(api, task.id, rounds);
      await expectHolderPages(api, task.id, paying, paying.map(owed));
      await expectEscrowChecked(task, keys[0]!, info.coordinator);
    } finally {
      await coordinator.close();
    }
  });

  it('pays value summed over the task (valueOver task) on-chain as the rule says, and verify holds it to that rule', async () => {
    const coordinator = await coordinatorOn(join(dir, 'over-task'));
    try {
      const info = await new CoordinatorApi(coordinator.url).info();
      const rewards = { perRound: String(REWARD_PER_ROUND), challengeWindowSeconds: 3, answerWindowSeconds: 3 };
      const spec = { rounds: 2, clientsPerRound: { min: 3, target: 3 }, rewards: { ...rewards, valueOver: 'task' } };
      const task = await createTask(coordinator.url, onchainTask(spec as Partial<TaskSpecInput>), owner);
      const running = clients(coordinator.url, task.id, writeShards(dir, [300, 300, 300]), await fundedKeys('over', 3));
      await escrowTask(owner, deployment, task, { coordinator: info.coordinator });
      const results = await Promise.all(running);
      const bundle = await eventually(() => fetchBundle(coordinator.url, task.id).catch(() => undefined), 'the bundle');
      const records = bundle.rounds.map(({ record }) => record);
      const scores = records.map((record) => record.accepted.map(({ address, score }) => ({ address, score })));
      const amounts = records.map((record) => record.accepted.map((update) => BigInt(update.amount)));
      expect(amounts).to.deep.equal(taskAmounts(scores, REWARD_PER_ROUND, { baseShareBps: 0, valueOver: 'task' }));
      // Not round 2's scores alone: what each was short of its share of both pools.
      const alone = rewardAmounts(
        records[1]!.accepted.map(({ score }) => score),
        REWARD_PER_ROUND,
        { baseShareBps: 0 },
      );
      expect(amounts[1]).to.not.deep.equal(alone);
      const owed = (address: string) =>
        records
          .flatMap((record) => record.accepted.filter((update) => update.address === address))
          .reduce((sum, update) => sum + BigInt(update.amount), 0n);
      expect(results.map((result) => result.rewards?.claimed)).to.deep.equal(
        results.map((result) => String(owed(result.address))),
      );
      const report = await auditRun(bundle, { chain: { provider, deployment } });
      expect([report.problems, report.chainChecked]).to.deep.equal([[], true]);
      // The same record read as a per-round task's: round 2's amounts are not that rule's.
      const perRound = {
        ...bundle,
        task: {
          ...bundle.task,
          spec: { ...bundle.task.spec, rewards: { ...bundle.task.spec.rewards, valueOver: 'round' as const } },
        },
      };
      const misread = await auditRun(perRound);
      expect(new Set(misread.problems.map((problem) => `${problem.round} ${problem.kind}`))).to.deep.equal(
        new Set(['2 amounts']),
      );
    } finally {
      await coordinator.close();
    }
  });

  it('carries the pool of a round that gained nothing to the next on-chain: round 2 pays both, claimed, verified', async () => {
    const coordinator = await coordinatorOn(join(dir, 'carried'));
    try {
      const api = new CoordinatorApi(coordinator.url);
      const task = await createTask(coordinator.url, onchainTask({ clientsPerRound: { min: 2, target: 2 } }), owner);
      const wallets = [randomWallet(), randomWallet()];
      const sockets = await Promise.all(wallets.map((wallet) => connect(coordinator.url, wallet)));
      const sendAll = async (round: number, values: (i: number, modelHash: string) => Promise<SentValues>) => {
        const started = await Promise.all(sockets.map((socket) => next<RoundStartPayload>(socket, 'round:start')));
        for (const [i, socket] of sockets.entries()) {
          const address = wallets[i]!.address;
          const { q, fractionBits } = await values(i, started[i]!.modelHash);
          const statement = { taskId: task.id, round, address, modelHash: started[i]!.modelHash };
          const sent = await provenUpdate(task, statement, q, undefined, fractionBits);
          expect(await request(socket, 'update', sent)).to.include({ ok: true });
        }
      };
      const firstRound = sendAll(1, () =>
        Promise.resolve({ q: new Int8Array(task.numParams), fractionBits: handScales(task) }),
      );
      for (const [i, socket] of sockets.entries()) {
        expect(await joinWithConsent(socket, coordinator.url, wallets[i]!, task.id)).to.include({ ok: true });
      }
      await escrowTask(owner, deployment, task, { coordinator: (await api.info()).coordinator });
      // Round 1: both send zeros, proven like any update: nothing gained, nothing paid. Round 2: both train.
      await firstRound;
      const shards = writeShards(join(dir, 'carried'), [300, 300]);
      await sendAll(2, async (i) =>
        trainedUpdate(task, await getWeights(coordinator.url, task.id, 1), shards[i]!, wallets[i]!.address),
      );
      const key = taskKey(task.id);
      const rewards = new RewardsContract(deployment.rewards, provider);
      await eventually(async () => ((await rewards.round(key, 2)).closed ? true : undefined), 'round 2 to close');
      const [one, two] = [await rewards.round(key, 1), await rewards.round(key, 2)];
      expect(one.total).to.equal(0n);
      // Round 2 pays round 1's pool too, less what rounding leaves: more than one pool, never more than two.
      expect([two.total > REWARD_PER_ROUND, two.total <= 2n * REWARD_PER_ROUND]).to.deep.equal([true, true]);
      await provider.send('evm_increaseTime', [10]);
      await provider.send('evm_mine', []);
      const { entries } = await api.accepted(task.id, 2);
      for (const wallet of wallets) {
        await devnet.fund(wallet.address);
        const claim = leafClaim(2, entries, wallet.address)!;
        await (await rewards.connect(wallet.connect(provider)).claim(key, [claim])).wait();
      }
      const token = new TokenContract(deployment.token, provider);
      const paid = await Promise.all(wallets.map((wallet) => token.balanceOf(wallet.address)));
      expect(paid.reduce((sum, amount) => sum + amount, 0n)).to.equal(two.total);
      const bundle = await eventually(() => fetchBundle(coordinator.url, task.id).catch(() => undefined), 'the bundle');
      const report = await auditRun(bundle, { chain: { provider, deployment } });
      expect([report.problems, report.chainChecked]).to.deep.equal([[], true]);
      for (const socket of sockets) socket.disconnect();
    } finally {
      await coordinator.close();
    }
  });

  it("takes updates only from addresses that locked the task's stake; its clients lock it and take it back", async () => {
    const coordinator = await coordinatorOn(join(dir, 'staked'));
    try {
      const info = await new CoordinatorApi(coordinator.url).info();
      const stake = parseEther('2');
      // Four sampled: two funded clients, one without tokens for the stake, one raw holder that locks nothing.
      const spec = onchainTask({ rounds: 1, clientsPerRound: { min: 2, target: 4 }, roundDeadlineSeconds: 60 });
      const task = await createTask(
        coordinator.url,
        { ...spec, rewards: { ...spec.rewards, stake: String(stake) } },
        owner,
      );
      expect((await new CoordinatorApi(coordinator.url).terms(task.id)).terms.rewards.stake).to.equal(String(stake));
      const [poor, ...keys] = await fundedKeys('staked', 3);
      for (const key of keys) await devnet.mint(loadOrCreateWallet(key).address, stake);
      // A third holder agrees to the terms but locks nothing: its proven update is refused.
      const wallet = randomWallet();
      const socket = await connect(coordinator.url, wallet);
      const started = next<RoundStartPayload>(socket, 'round:start');
      expect(await joinWithConsent(socket, coordinator.url, wallet, task.id)).to.include({ ok: true });
      const shards = writeShards(join(dir, 'staked'), [300, 300, 300]);
      const running = clients(coordinator.url, task.id, shards.slice(1), keys);
      const [unfunded] = clients(coordinator.url, task.id, shards.slice(0, 1), [poor!]);
      await escrowTask(owner, deployment, task, { coordinator: info.coordinator });
      const { modelHash } = await started;
      const statement = { taskId: task.id, round: 1, address: wallet.address, modelHash };
      const reply = await request(socket, 'update', await provenUpdate(task, statement, smallUpdate(task.numParams)));
      expect(reply.ok ? 'accepted' : reply.error.code).to.equal('STAKE_REQUIRED');
      socket.disconnect();
      // The client without the tokens stops at its first round, saying what to fund.
      const stopped = await unfunded!.then(
        () => 'took part',
        (error: ZkflError) => `${error.code}: ${error.message}`,
      );
      expect(stopped).to.match(/^STAKE_REQUIRED: .* holds 0 of token/);
      const results = await Promise.all(running);
      const [round] = await getRounds(coordinator.url, task.id);
      const token = new TokenContract(deployment.token, provider);
      const rewards = new RewardsContract(deployment.rewards, provider);
      for (const result of results) {
        // Paid its amount, and its stake back: what it holds is what it was minted and what it earned.
        const earned = BigInt(round!.participants.find((p) => p.address === result.address)!.amount!);
        expect(await token.balanceOf(result.address)).to.equal(stake + earned);
        expect(await rewards.stakeOf(taskKey(task.id), result.address)).to.equal(0n);
      }
      const staked = await rewards.events('Staked', taskKey(task.id));
      expect(staked.map((log) => log.args[1] as string).sort()).to.deep.equal(results.map((r) => r.address).sort());
    } finally {
      await coordinator.close();
    }
  });

  /** Someone who doubts a leaf of round 1 puts up the bond and challenges it; returns the challenger. */
  async function challenge(
    key: string,
    doubted: NonNullable<ReturnType<typeof acceptedLeafAt>>,
  ): Promise<{ address: string }> {
    const rewards = new RewardsContract(deployment.rewards, provider);
    const challenger = Wallet.createRandom().connect(provider);
    await devnet.fund(challenger.address);
    const { challengeBond } = (await rewards.task(key))!;
    await devnet.mint(challenger.address, challengeBond);
    await (await new TokenContract(deployment.token, challenger).approve(deployment.rewards, challengeBond)).wait();
    await (await rewards.connect(challenger).challenge(key, 1, doubted.leaf, doubted.proof)).wait();
    return challenger;
  }

  it("answers a challenge to one of its leaves with the update's proofs: the challenger loses its bond", async () => {
    const coordinator = await coordinatorOn(join(dir, 'challenged'));
    try {
      const info = await new CoordinatorApi(coordinator.url).info();
      const task = await createTask(
        coordinator.url,
        onchainTask({
          rounds: 1,
          clientsPerRound: { min: 2, target: 2 },
          // Windows no test waits out: the chain's clock is moved past them once the challenge is answered.
          rewards: { perRound: String(REWARD_PER_ROUND), challengeWindowSeconds: 3600, answerWindowSeconds: 3600 },
        }),
        owner,
      );
      await escrowTask(owner, deployment, task, { coordinator: info.coordinator });
      const keys = await fundedKeys('challenged', 2);
      const running = clients(coordinator.url, task.id, writeShards(dir, [300, 300]), keys);
      const key = taskKey(task.id);
      const rewards = new RewardsContract(deployment.rewards, provider);
      await eventually(async () => ((await rewards.round(key, 1)).closed ? true : undefined), 'round 1 to close');
      const set = await new CoordinatorApi(coordinator.url).accepted(task.id, 1);
      const doubted = acceptedLeafAt(set.entries, 0)!;
      const challenger = await challenge(key, doubted);
      const token = new TokenContract(deployment.token, provider);
      // The coordinator (or the contributor itself, whichever is first) shows the update's chunk proofs, verified by
      // the contract; the challenger's bond goes to whoever answered.
      await eventually(
        async () => ((await rewards.leafStatus(key, 1, 0)).challenge === 'answered' ? true : undefined),
        'the challenge to be answered',
      );
      expect(await token.balanceOf(challenger.address)).to.equal(0n);
      const [answered] = await rewards.events('ChallengeAnswered', key);
      const answerer = answered!.args[3] as string;
      expect([info.coordinator, doubted.leaf.contributor]).to.include(answerer);
      // The settlement timeline shows the dispute and its outcome.
      const disputes = await eventually(async () => {
        const { events: observed } = await new CoordinatorApi(coordinator.url).settlement(task.id);
        const shown = observed.filter((event) => event.kind === 'challenged' || event.kind === 'answered');
        return shown.length === 2 ? shown : undefined;
      }, 'the dispute to be read from the chain');
      expect(disputes.map((event) => [event.round, event.kind, event.subject])).to.deep.equal([
        [1, 'challenged', `leaf 0 by ${challenger.address}`],
        [1, 'answered', `leaf 0 by ${answerer}`],
      ]);
      // And the challenged leaf is paid like any other, once the window has passed.
      await provider.send('evm_increaseTime', [3601]);
      await provider.send('evm_mine', []);
      const results = await Promise.all(running);
      expect(results.map((result) => [result.rewards?.owed, result.rewards?.omitted])).to.deep.equal([
        [0, 0],
        [0, 0],
      ]);
      expect((await rewards.leafStatus(key, 1, 0)).claimed).to.equal(BigInt(doubted.leaf.amount) > 0n);
    } finally {
      await coordinator.close();
    }
  });

  it('refuses an onchain task on a coordinator without a chain', async () => {
    const plain = await startTestCoordinator({ dataRoot, port: 0, dataDir: join(dir, 'plain') });
    try {
      const refused = await createTask(plain.url, smallTask({ onchain: true })).catch((error: unknown) => error);
      expect(refused).to.be.instanceOf(ZkflError).that.includes({ code: 'VALIDATION_FAILED', field: 'onchain' });
    } finally {
      await plain.close();
    }
  });

  it("refuses an onchain task whose circuit has no verifier on the coordinator's chain, and says what to deploy", async () => {
    // This chain has the default family's 2^15 verifier only; the test family's circuit is built but not deployed.
    await circuit('test');
    const elsewhere = await startTestCoordinator({
      dataRoot,
      port: 0,
      dataDir: join(dir, 'undeployed'),
      circuit: 'test',
      chain: { rpcUrl: proxy.url, deployment },
    });
    const refused = await createTask(elsewhere.url, onchainTask()).catch((error: unknown) => error);
    expect(refused).to.be.instanceOf(ZkflError).that.includes({ code: 'UNAVAILABLE', field: 'onchain' });
    expect((refused as Error).message).to.match(/no verifier for circuit update-chunk-30\b.*zkfl setup --circuit/);
    expect(await new CoordinatorApi(elsewhere.url).tasks()).to.deep.equal([]);
  });

  it("ends a task rather than open a round its contributors could not claim before the escrow's deadline", async () => {
    const coordinator = await coordinatorOn(join(dir, 'deadline'));
    const info = await new CoordinatorApi(coordinator.url).info();
    const task = await createTask(
      coordinator.url,
      onchainTask({ rounds: 2, clientsPerRound: { min: 2, target: 2 }, roundDeadlineSeconds: 600 }),
      owner,
    );
    // The deadline is in the terms holders sign, and the escrow holds it.
    const { terms } = await new CoordinatorApi(coordinator.url).terms(task.id);
    expect(terms.rewards).to.include({ deadline: task.spec.rewards.deadline, claimPeriodSeconds: 3 * 86_400 });
    await escrowTask(owner, deployment, task, { coordinator: info.coordinator });
    const key = taskKey(task.id);
    expect((await new RewardsContract(deployment.rewards, provider).task(key))!.deadline).to.equal(
      task.spec.rewards.deadline,
    );
    const keys = await fundedKeys('deadline', 2);
    const running = clients(coordinator.url, task.id, writeShards(dir, [300, 300]), keys);
    // While round 1 trains, the chain's clock passes the last moment a round may open.
    await eventually(async () => ((await events('RoundOpened', key)).length === 1 ? true : undefined), 'round 1 open');
    const latest = (await provider.getBlock('latest'))!.timestamp;
    await provider.send('evm_increaseTime', [lastOpening(task.spec.rewards) - latest + 1]);
    // Blocks keep coming, as on a live chain: the clients see the chain's clock, now ahead of the wall clock, move
    // (in the tests after this one too: without blocks, a clock ahead of the wall clock would stand still).
    const miner = setInterval(() => void provider.send('evm_mine', []).catch(() => undefined), 1000);
    stopAfter('file', () => clearInterval(miner));
    const results = await Promise.all(running);
    expect(results.map((result) => [result.status, result.roundsContributed])).to.deep.equal([
      ['failed', 1],
      ['failed', 1],
    ]);
    const ended = await new CoordinatorApi(coordinator.url).task(task.id);
    expect([ended.status, ended.reason]).to.deep.equal([
      'failed',
      `round 2 would open too late to be claimed before the escrow's deadline ${new Date(task.spec.rewards.deadline! * 1000).toISOString()}`,
    ]);
    // Round 1 was settled and paid; round 2 never opened.
    expect([await events('RoundOpened', key), await events('RoundClosed', key)]).to.deep.equal([[1], [1]]);
    for (const result of results) expect(result.rewards).to.include({ owed: 0, omitted: 0 });
  });

  it('goes on waiting for the escrow across a restart, then runs and settles its round once', async () => {
    const dataDir = join(dir, 'escrow-wait');
    let coordinator = await coordinatorOn(dataDir);
    const task = await createTask(
      coordinator.url,
      onchainTask({ rounds: 1, clientsPerRound: { min: 2, target: 2 } }),
      owner,
    );
    // Created and waiting: without an escrow, round 1 never starts (a task off-chain starts it as it is created).
    expect((await getRounds(coordinator.url, task.id))[0]).to.include({ phase: 'open', attempts: 0 });
    await coordinator.close();

    coordinator = await coordinatorOn(dataDir, coordinator.port);
    try {
      const info = await new CoordinatorApi(coordinator.url).info();
      expect((await getRounds(coordinator.url, task.id))[0]).to.include({ phase: 'open', attempts: 0 });
      await escrowTask(owner, deployment, task, { coordinator: info.coordinator });
      const keys = await fundedKeys('escrow-wait', 2);
      const results = await Promise.all(clients(coordinator.url, task.id, writeShards(dir, [300, 300]), keys));
      expect(results.map((result) => [result.status, result.roundsContributed])).to.deep.equal([
        ['completed', 1],
        ['completed', 1],
      ]);
      const key = taskKey(task.id);
      expect([await events('RoundOpened', key), await events('RoundClosed', key)]).to.deep.equal([[1], [1]]);
      expect(await coordinator.coordinator.pendingSettlement()).to.equal(0);
    } finally {
      await coordinator.close();
    }
  });

  it('settles exactly once what a chain outage and a coordinator restart left pending', async () => {
    const dataDir = join(dir, 'outage');
    let coordinator = await coordinatorOn(dataDir);
    const info = await new CoordinatorApi(coordinator.url).info();
    const task = await createTask(
      coordinator.url,
      onchainTask({ rounds: 2, clientsPerRound: { min: 2, target: 2 } }),
      owner,
    );
    await escrowTask(owner, deployment, task, { coordinator: info.coordinator });
    const keys = await fundedKeys('outage', 2);
    const shards = writeShards(dir, [300, 300]);
    // They give up settling soon after the task ends: what they are owed stays on disk for their next start.
    const running = clients(coordinator.url, task.id, shards, keys, 3);
    // The coordinator loses the chain as soon as round 1 is open on it: everything after is left pending.
    const key = taskKey(task.id);
    await eventually(
      async () =>
        (await events('RoundOpened', key)).length > 0 && (await coordinator.coordinator.pendingSettlement()) === 0
          ? true
          : undefined,
      'round 1 to open on-chain',
    );
    await proxy.down();
    await eventually(
      async () => ((await new CoordinatorApi(coordinator.url).task(task.id)).status === 'completed' ? true : undefined),
      'the task to complete off-chain',
    );
    // Everything round 2 needed on-chain came after the outage, and is owed still.
    const pending = (await new CoordinatorApi(coordinator.url).settlement(task.id)).actions
      .filter((action) => action.status !== 'done')
      .map((action) => `${action.round} ${action.kind}`);
    expect(pending).to.include.members(['2 open', '2 close']);
    expect((await Promise.all(running)).map((result) => result.rewards)).to.deep.equal(
      Array(2).fill({ claimed: '0', owed: 2, omitted: 0 }),
    );
    await coordinator.close();

    await proxy.up();
    // On the same port: the clients are still trying to reach it.
    coordinator = await coordinatorOn(dataDir, coordinator.port);
    try {
      const results = await Promise.all(clients(coordinator.url, task.id, shards, keys));
      const rounds = await getRounds(coordinator.url, task.id);
      const owed = owedIn(rounds);
      expect(results.map((result) => result.rewards)).to.deep.equal(
        results.map((result) => ({ claimed: String(owed(result.address)), owed: 0, omitted: 0 })),
      );
      expect(await coordinator.coordinator.pendingSettlement()).to.equal(0);
      expect(await events('RoundOpened', key)).to.deep.equal([1, 2]);
      expect(await events('RoundClosed', key)).to.deep.equal([1, 2]);
      expect(rounds.map((round) => round.participants.length)).to.deep.equal([2, 2]);
    } finally {
      await coordinator.close();
    }
  });
});
