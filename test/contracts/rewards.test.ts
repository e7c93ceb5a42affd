import { expect } from 'chai';
import { createHash } from 'node:crypto';
import type { BrowserProvider, JsonRpcSigner } from 'ethers';
import { type CircuitArtifacts, terminateCurve } from '../../circuits/build.js';
import { randomSalt } from '../../circuits/commitment.js';
import { type ChunkProof, proveUpdate } from '../../circuits/prover.js';
import { statementSignal, taskKey } from '../../circuits/statement.js';
import {
  type AcceptedLeafProof,
  type AcceptedPair,
  acceptedProof,
  acceptedRoot,
  type SolidityChunkProof,
  solidityChunkProof,
  updateCommitment,
} from '../../contracts/accepted-set.js';
import { inProcessChain } from '../../contracts/chain.js';
import { type Deployment, deployZkfl, verifierFor } from '../../contracts/deployment.js';
import { type OnchainTaskParams, RewardsContract, revertName, TokenContract } from '../../contracts/rewards.js';
import { Random } from '../../common/random.js';
import { circuit } from '../helpers/circuits.js';

const REWARD = 10n ** 18n * 1000n;
/** τ_k² = 10^6: at scale 2^−10 a chunk's bound is 10^6 · 4^10, far above the test updates' norms. */
const CLIP_SQUARE_X96 = (10n ** 6n) << 96n;
const FRACTION_BITS = 10;

/** A contribution as its contributor holds it: proofs, and the pair the coordinator would accept. */
interface Contribution {
  address: string;
  proofs: ChunkProof[];
  fractionBits: number[];
  pair: AcceptedPair;
}

const onchainProofs = (contribution: Contribution): SolidityChunkProof[] =>
  contribution.proofs.map((proof, k) => solidityChunkProof(proof, contribution.fractionBits[k]!));

async function reverts(action: Promise<unknown>, error: string): Promise<void> {
  const outcome = await action.then(
    () => undefined,
    (thrown: unknown) => thrown,
  );
  expect(outcome, `expected ${error}`).to.not.equal(undefined);
  expect(revertName(outcome), String(outcome)).to.equal(error);
}

describe('ZkflRewards on a local chain', function () {
  this.timeout(300_000);
  let provider: BrowserProvider;
  let artifacts: CircuitArtifacts;
  let deployment: Deployment;
  let owner: JsonRpcSigner, coordinator: JsonRpcSigner, alice: JsonRpcSigner, bob: JsonRpcSigner;
  let carol: JsonRpcSigner, mallory: JsonRpcSigner;
  let rewards: RewardsContract;
  let token: TokenContract;
  let taskCounter = 0;

  before(async () => {
    provider = inProcessChain();
    const signers = await Promise.all([0, 1, 2, 3, 4, 5].map((i) => provider.getSigner(i)));
    [owner, coordinator, alice, bob, carol, mallory] = signers as [
      JsonRpcSigner,
      JsonRpcSigner,
      JsonRpcSigner,
      JsonRpcSigner,
      JsonRpcSigner,
      JsonRpcSigner,
    ];
    artifacts = await circuit('test');
    deployment = await deployZkfl(owner, [artifacts]);
    rewards = new RewardsContract(deployment.rewards, owner);
    token = new TokenContract(deployment.token, owner);
    await (await token.mint(owner.address, REWARD * 1000n)).wait();
    await (await token.approve(deployment.rewards, REWARD * 1000n)).wait();
  });
  after(() => terminateCurve());

  const modelHash = (round: number): string => createHash('sha256').update(`weights of round ${round}`).digest('hex');
  const as = (signer: JsonRpcSigner): RewardsContract => rewards.connect(signer);

  async function createTask(overrides: Partial<OnchainTaskParams> = {}): Promise<{ id: string; key: string }> {
    const id = `t-contract-${++taskCounter}`;
    const now = (await provider.getBlock('latest'))!.timestamp;
    const params: OnchainTaskParams = {
      coordinator: coordinator.address,
      token: deployment.token,
      verifier: verifierFor(deployment, artifacts.params.name),
      rounds: 3,
      chunks: 1,
      clipSquareX96: CLIP_SQUARE_X96,
      deadline: now + 86_400,
      rewardPerRound: REWARD,
      ...overrides,
    };
    await (await rewards.createTask(taskKey(id), params)).wait();
    return { id, key: taskKey(id) };
  }

  async function contribute(
    taskId: string,
    round: number,
    signer: JsonRpcSigner,
    options: { chunks?: number; modelHash?: string; seed?: number } = {},
  ): Promise<Contribution> {
    const chunks = options.chunks ?? 1;
    const q = Int8Array.from({ length: 30 * chunks }, (_, i) => ((i + (options.seed ?? 0)) % 9) - 4);
    const statement = {
      taskId,
      round,
      address: signer.address,
      modelHash: options.modelHash ?? modelHash(round),
      clipSquareX96: CLIP_SQUARE_X96,
    };
    const fractionBits = Array<number>(chunks).fill(FRACTION_BITS);
    const proofs = await proveUpdate(statement, randomSalt(), q, fractionBits, artifacts);
    const commitment = updateCommitment(proofs.map((proof) => proof.publicSignals[0]!));
    return { address: signer.address, proofs, fractionBits, pair: { address: signer.address, commitment } };
  }

  async function openAndClose(key: string, round: number, accepted: Contribution[]): Promise<void> {
    await (await as(coordinator).openRound(key, round, '0x' + modelHash(round))).wait();
    const pairs = accepted.map((c) => c.pair);
    await (await as(coordinator).closeRound(key, round, acceptedRoot(pairs), pairs.length)).wait();
  }

  const submit = (
    key: string,
    round: number,
    contribution: Contribution,
    accepted: Contribution[],
    by: JsonRpcSigner = alice,
    proofs: SolidityChunkProof[] = onchainProofs(contribution),
  ) => as(by).submitContribution(key, round, contribution.address, proofs, leafOf(contribution, accepted));

  /** The contribution's leaf in the accepted set; for one outside it, a proof as if it were leaf 0. */
  const leafOf = (contribution: Contribution, accepted: Contribution[]): AcceptedLeafProof =>
    acceptedProof(
      accepted.map((c) => c.pair),
      contribution.address,
    ) ?? { index: 0, proof: [] };

  const claim = (key: string, round: number, contribution: Contribution, accepted: Contribution[], by: JsonRpcSigner) =>
    as(by).claim(key, round, contribution.pair.commitment, leafOf(contribution, accepted));

  it('builds the same statement as the TypeScript twin', async () => {
    const { id, key } = await createTask();
    await (await as(coordinator).openRound(key, 1, '0x' + modelHash(1))).wait();
    const statement = {
      taskId: id,
      round: 1,
      address: bob.address,
      modelHash: modelHash(1),
      clipSquareX96: CLIP_SQUARE_X96,
    };
    // Scales whose bound is exact, cut by the fixed point, and capped at 48 bits.
    for (const [chunk, fractionBits] of [
      [0, 0],
      [5, 10],
      [2, 40],
      [3, 63],
    ] as const) {
      const twin = statementSignal(statement, chunk, fractionBits);
      expect(await rewards.statementOf(key, 1, bob.address, chunk, fractionBits)).to.equal(twin);
    }
    await reverts(rewards.statementOf(key, 1, bob.address, 0, 64), 'Rewards__StatementMismatch');
  });

  it('records an accepted, proven contribution for its own address even when another account submits it', async () => {
    const { id, key } = await createTask();
    const [a, b] = [await contribute(id, 1, alice), await contribute(id, 1, bob)];
    await openAndClose(key, 1, [a, b]);
    const before = await token.balanceOf(alice.address);
    await (await submit(key, 1, a, [a, b], mallory)).wait();
    const { index } = leafOf(a, [a, b]);
    expect(await rewards.contribution(key, 1, index)).to.equal('recorded');
    await reverts(claim(key, 1, a, [a, b], mallory), 'Rewards__NotContributor');
    await (await claim(key, 1, a, [a, b], alice)).wait();
    expect((await token.balanceOf(alice.address)) - before).to.equal(REWARD / 2n);
    expect(await token.balanceOf(mallory.address)).to.equal(0n);
    expect(await rewards.contribution(key, 1, index)).to.equal('claimed');
  });

  it('verifies every chunk of a multi-chunk contribution and accepts its combined commitment', async () => {
    const { id, key } = await createTask({ chunks: 2 });
    const a = await contribute(id, 1, alice, { chunks: 2 });
    await openAndClose(key, 1, [a]);
    const [first, second] = onchainProofs(a);
    await reverts(submit(key, 1, a, [a], alice, [first!]), 'Rewards__WrongChunkCount');
    await reverts(submit(key, 1, a, [a], alice, [second!, first!]), 'Rewards__StatementMismatch');
    await (await submit(key, 1, a, [a])).wait();
    expect(await rewards.contribution(key, 1, 0)).to.equal('recorded');
  });

  it('reverts each way a contribution can be wrong with its own error', async () => {
    const { id, key } = await createTask();
    const [a, b] = [await contribute(id, 1, alice), await contribute(id, 1, bob)];
    // Carol proves a valid update but the coordinator never received it: she is not in the accepted set.
    const freeRider = await contribute(id, 1, carol);
    const staleModel = await contribute(id, 1, bob, { modelHash: modelHash(99) });
    await reverts(submit(key, 1, a, [a]), 'Rewards__RoundNotClosed');
    await openAndClose(key, 1, [a, b]);

    const broken = onchainProofs(a);
    broken[0]!.a[0] = String(BigInt(broken[0]!.a[0]) + 1n);
    await reverts(submit(key, 1, a, [a, b], alice, broken), 'Rewards__InvalidProof');
    // The same proof declared at another scale: it would count for twice what it proved.
    const rescaled = onchainProofs(a).map((proof) => ({ ...proof, fractionBits: FRACTION_BITS - 1 }));
    await reverts(submit(key, 1, a, [a, b], alice, rescaled), 'Rewards__StatementMismatch');
    await reverts(submit(key, 1, freeRider, [a, b, freeRider]), 'Rewards__NotAccepted');
    await reverts(submit(key, 1, staleModel, [a, b]), 'Rewards__StatementMismatch');
    // Bob's proof submitted as Alice's: the statement names another address; claiming hers does not verify.
    const bobAsAlice = { ...b, address: alice.address };
    await reverts(submit(key, 1, bobAsAlice, [a, b]), 'Rewards__StatementMismatch');
    const relabelled = onchainProofs(b).map((proof) => ({
      ...proof,
      statement: String(a.proofs[0]!.publicSignals[1]),
    }));
    await reverts(submit(key, 1, bobAsAlice, [a, b], mallory, relabelled), 'Rewards__InvalidProof');

    await (await submit(key, 1, a, [a, b])).wait();
    await reverts(submit(key, 1, a, [a, b], bob), 'Rewards__AlreadySubmitted');
    await reverts(claim(key, 1, b, [a, b], bob), 'Rewards__NotContributor'); // accepted, not yet recorded
    await (await claim(key, 1, a, [a, b], alice)).wait();
    await reverts(claim(key, 1, a, [a, b], alice), 'Rewards__AlreadyClaimed');
    await reverts(claim(key, 1, freeRider, [a, b, freeRider], carol), 'Rewards__NotContributor');

    // Alice's round-1 proof replayed in round 2, where she is accepted again.
    const a2 = await contribute(id, 2, alice);
    await openAndClose(key, 2, [a2]);
    await reverts(submit(key, 2, a, [a]), 'Rewards__StatementMismatch');
    await reverts(submit(key, 2, { ...a2, proofs: a.proofs }, [a2]), 'Rewards__StatementMismatch');
  });

  it('lets only the coordinator open and close rounds, in order', async () => {
    const { key } = await createTask({ rounds: 2 });
    await reverts(as(mallory).openRound(key, 1, '0x' + modelHash(1)), 'Rewards__NotCoordinator');
    await reverts(as(owner).openRound(key, 1, '0x' + modelHash(1)), 'Rewards__NotCoordinator');
    await reverts(as(coordinator).openRound(key, 2, '0x' + modelHash(2)), 'Rewards__RoundOutOfRange');
    await (await as(coordinator).openRound(key, 1, '0x' + modelHash(1))).wait();
    await reverts(as(coordinator).openRound(key, 1, '0x' + modelHash(1)), 'Rewards__RoundAlreadyOpen');
    await reverts(as(coordinator).openRound(key, 2, '0x' + modelHash(2)), 'Rewards__PreviousRoundOpen');
    const root = acceptedRoot([{ address: alice.address, commitment: '0x' + '11'.repeat(32) }]);
    await reverts(as(mallory).closeRound(key, 1, root, 1), 'Rewards__NotCoordinator');
    await reverts(as(coordinator).closeRound(key, 2, root, 1), 'Rewards__RoundNotOpen');
    await (await as(coordinator).closeRound(key, 1, root, 1)).wait();
    await reverts(as(coordinator).closeRound(key, 1, root, 1), 'Rewards__RoundAlreadyClosed');
    await (await as(coordinator).openRound(key, 2, '0x' + modelHash(2))).wait();
    await reverts(as(coordinator).openRound(key, 3, '0x' + modelHash(3)), 'Rewards__RoundOutOfRange');
  });

  it('refuses a second task under the same key and tasks it could not pay out', async () => {
    const { key } = await createTask();
    const params = (await rewards.task(key))!;
    await reverts(rewards.createTask(key, params), 'Rewards__TaskExists');
    await reverts(rewards.createTask(taskKey('t-none'), { ...params, deadline: 1 }), 'Rewards__InvalidParameters');
    await reverts(
      rewards.createTask(taskKey('t-none'), { ...params, rewardPerRound: 1n << 128n }),
      'Rewards__InvalidParameters',
    );
    await reverts(
      rewards.createTask(taskKey('t-none'), { ...params, rewardPerRound: 0n }),
      'Rewards__InvalidParameters',
    );
    await reverts(as(owner).reclaim(key), 'Rewards__TaskNotEnded');
  });

  it('conserves funds over a multi-round run with a random number of contributors per round', async () => {
    const random = new Random(7);
    const rounds = 5;
    const reward = 1000n + BigInt(random.int(1000)); // not divisible by most counts: dust must be accounted for
    const signers = [alice, bob, carol, mallory];
    const balances = async (): Promise<bigint[]> =>
      Promise.all([owner, ...signers].map((signer) => token.balanceOf(signer.address)));
    const start = await balances();
    const contractStart = await token.balanceOf(deployment.rewards);
    const { id, key } = await createTask({ rounds, rewardPerRound: reward });
    let paid = 0n;
    for (let round = 1; round <= rounds; round++) {
      const count = random.int(signers.length + 1);
      const accepted = await Promise.all(signers.slice(0, count).map((signer) => contribute(id, round, signer)));
      await openAndClose(key, round, accepted);
      for (const [i, contribution] of accepted.entries()) {
        await (await submit(key, round, contribution, accepted, mallory)).wait();
        if (i % 2 === 0 || round === rounds) {
          await (await claim(key, round, contribution, accepted, signers[i]!)).wait();
          paid += reward / BigInt(count);
        }
      }
    }
    expect((await rewards.task(key))!.paid).to.equal(paid);
    await provider.send('evm_increaseTime', [86_401]);
    await provider.send('evm_mine', []);
    await reverts(as(alice).claim(key, 1, '0x' + '00'.repeat(32), { index: 0, proof: [] }), 'Rewards__TaskEnded');
    await reverts(as(alice).reclaim(key), 'Rewards__NotOwner');
    await (await as(owner).reclaim(key)).wait();
    await reverts(as(owner).reclaim(key), 'Rewards__AlreadyReclaimed');
    const end = await balances();
    const gained = end.map((balance, i) => balance - start[i]!);
    // The owner got back everything not paid; contributors got exactly what was paid; nothing stayed behind.
    expect(gained[0]).to.equal(-paid);
    expect(gained.slice(1).reduce((sum, value) => sum + value, 0n)).to.equal(paid);
    expect(await token.balanceOf(deployment.rewards)).to.equal(contractStart);
  });
});
