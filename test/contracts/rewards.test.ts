import { expect } from 'chai';
import { createHash } from 'node:crypto';
import { type BrowserProvider, type EventLog, getAddress, type JsonRpcSigner, ZeroHash } from 'ethers';
import { type CircuitArtifacts, terminateCurve, verificationKeySha256 } from '../../circuits/build.js';
import { randomSalt } from '../../circuits/salt.js';
import { proveUpdate } from '../../circuits/prover.js';
import type { ChunkProof } from '../../circuits/update-prover.js';
import { statementSignal, taskKey } from '../../circuits/statement.js';
import {
  type AcceptedEntry,
  acceptedLeaf,
  acceptedRoot,
  acceptedTotal,
  type LeafClaim,
  leafClaim,
  type SolidityChunkProof,
  solidityChunkProof,
  updateCommitment,
} from '../../contracts/accepted-set.js';
import { inProcessChain } from '../../contracts/chain.js';
import { type Deployment, deployZkfl, verifierFor } from '../../contracts/deployment.js';
import {
  MAX_CHUNKS,
  type OnchainTaskParams,
  RewardsContract,
  revertArgs,
  revertName,
  TokenContract,
} from '../../contracts/rewards.js';
import { Random } from '../../common/random.js';
import { signReceipt } from '../../protocol/receipt.js';
import { circuit } from '../helpers/circuits.js';

const POOL = 10n ** 18n * 1000n;
const BOND = POOL;
const CHALLENGE_BOND = 10n ** 18n * 50n;
const WINDOW = 3600;
const ANSWER = 600;
const CLAIM_PERIOD = 86_400;
/** τ_k² = 10^6: at scale 2^−10 a chunk's bound is 10^6 · 4^10, far above the test updates' norms. */
const CLIP_SQUARE_X96 = (10n ** 6n) << 96n;
const FRACTION_BITS = 10;

/** An update as its contributor holds it: proofs, and the entry a coordinator would put in the set. */
interface Contribution {
  address: string;
  proofs: ChunkProof[];
  fractionBits: number[];
  entry: AcceptedEntry;
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
    // Everyone holds tokens and lets the contract take them: the owner's pools, the coordinator's bonds and the
    // challengers' bonds.
    for (const signer of signers) {
      await (await token.mint(signer.address, POOL * 1000n)).wait();
      await (await token.connect(signer).approve(deployment.rewards, POOL * 1000n)).wait();
    }
  });
  after(() => terminateCurve());

  const modelHash = (round: number): string => createHash('sha256').update(`weights of round ${round}`).digest('hex');
  const as = (signer: JsonRpcSigner): RewardsContract => rewards.connect(signer);
  const advance = async (seconds: number): Promise<void> => {
    await provider.send('evm_increaseTime', [seconds]);
    await provider.send('evm_mine', []);
  };

  /** A task with its pool escrowed and (unless `bond` says otherwise) its coordinator's bond posted. */
  async function createTask(
    overrides: Partial<OnchainTaskParams> = {},
    bond?: bigint,
  ): Promise<{ id: string; key: string }> {
    const id = `t-contract-${++taskCounter}`;
    const now = (await provider.getBlock('latest'))!.timestamp;
    const params: OnchainTaskParams = {
      coordinator: coordinator.address,
      token: deployment.token,
      verifier: verifierFor(deployment, artifacts.params.name),
      rounds: 3,
      chunks: 1,
      baseShareBps: 0,
      clipSquareX96: CLIP_SQUARE_X96,
      verificationKey: '0x' + verificationKeySha256(artifacts),
      deadline: now + 30 * 86_400,
      challengeWindow: WINDOW,
      answerWindow: ANSWER,
      claimPeriod: CLAIM_PERIOD,
      stake: 0n,
      rewardPerRound: POOL,
      coordinatorBond: BOND,
      challengeBond: CHALLENGE_BOND,
      ...overrides,
    };
    const key = taskKey(id);
    await (await rewards.createTask(key, params)).wait();
    const posted = bond ?? params.coordinatorBond;
    if (posted > 0n) await (await as(coordinator).postBond(key, posted)).wait();
    return { id, key };
  }

  async function contribute(
    taskId: string,
    round: number,
    signer: JsonRpcSigner,
    amount: bigint,
    options: { chunks?: number; seed?: number } = {},
  ): Promise<Contribution> {
    const chunks = options.chunks ?? 1;
    const q = Int8Array.from({ length: 30 * chunks }, (_, i) => ((i + (options.seed ?? 0)) % 9) - 4);
    const statement = {
      taskId,
      round,
      address: signer.address,
      modelHash: modelHash(round),
      clipSquareX96: CLIP_SQUARE_X96,
      verificationKey: verificationKeySha256(artifacts),
    };
    const fractionBits = Array<number>(chunks).fill(FRACTION_BITS);
    const proofs = await proveUpdate(statement, randomSalt(), q, fractionBits, artifacts);
    const commitment = updateCommitment(proofs.map((proof) => proof.publicSignals[0]!));
    return {
      address: signer.address,
      proofs,
      fractionBits,
      entry: { address: signer.address, commitment, amount: String(amount) },
    };
  }

  async function openAndClose(key: string, round: number, entries: AcceptedEntry[], total = acceptedTotal(entries)) {
    await (await as(coordinator).openRound(key, round, '0x' + modelHash(round))).wait();
    await (await as(coordinator).closeRound(key, round, acceptedRoot(entries), entries.length, total)).wait();
  }

  const leafIn = (entries: AcceptedEntry[], address: string) => acceptedLeaf(entries, address)!;
  const claimOf = (round: number, entries: AcceptedEntry[], address: string): LeafClaim =>
    leafClaim(round, entries, address)!;

  it('builds the same statement as the TypeScript twin', async () => {
    const { id, key } = await createTask();
    await (await as(coordinator).openRound(key, 1, '0x' + modelHash(1))).wait();
    const statement = {
      taskId: id,
      round: 1,
      address: bob.address,
      modelHash: modelHash(1),
      clipSquareX96: CLIP_SQUARE_X96,
      verificationKey: verificationKeySha256(artifacts),
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

  it('pays each leaf its amount after the challenge window, several rounds in one transfer, to its contributor only', async () => {
    const { id, key } = await createTask();
    const rounds = [
      [await contribute(id, 1, alice, 600n), await contribute(id, 1, bob, 400n)],
      [await contribute(id, 2, alice, 700n), await contribute(id, 2, bob, 0n)],
    ];
    const entries = rounds.map((round) => round.map((c) => c.entry));
    await openAndClose(key, 1, entries[0]!);
    await reverts(as(alice).claim(key, [claimOf(1, entries[0]!, alice.address)]), 'Rewards__ChallengeWindowOpen');
    await advance(WINDOW);
    await openAndClose(key, 2, entries[1]!);
    await advance(WINDOW);
    const before = await token.balanceOf(alice.address);
    const claims = [claimOf(1, entries[0]!, alice.address), claimOf(2, entries[1]!, alice.address)];
    const receipt = await (await as(alice).claim(key, claims)).wait();
    expect((await token.balanceOf(alice.address)) - before).to.equal(1300n);
    // One token transfer for both rounds.
    const transfers = receipt!.logs.filter((log) => log.address === deployment.token);
    expect(transfers).to.have.length(1);
    await reverts(as(alice).claim(key, [claims[0]!]), 'Rewards__AlreadyClaimed');
    expect((await rewards.round(key, 1)).unpaid).to.equal(400n);
    expect((await rewards.round(key, 2)).unpaid).to.equal(0n);
    // Mallory cannot take Alice's leaf, nor claim an amount her leaf does not say.
    await reverts(as(mallory).claim(key, [claimOf(1, entries[0]!, bob.address)]), 'Rewards__NotInSet');
    await reverts(
      as(bob).claim(key, [{ ...claimOf(1, entries[0]!, bob.address), amount: 1000n }]),
      'Rewards__NotInSet',
    );
    await (await as(bob).claim(key, [claimOf(1, entries[0]!, bob.address)])).wait();
    expect((await rewards.leafStatus(key, 1, leafIn(entries[0]!, bob.address).leaf.index)).claimed).to.equal(true);
    expect((await rewards.round(key, 1)).unpaid).to.equal(0n);
  });

  it('keeps every leaf its own marks in rounds of hundreds of leaves', async () => {
    const { id, key } = await createTask();
    // 250 leaves, ordered by address: the round's head word holds leaves 0..59, then 127 per word. Three real
    // contributors sit at the edges of those words (59, 60, 187), among stand-ins with addresses beside theirs.
    const [first, second, third] = [alice, bob, carol].sort((a, b) => (BigInt(a.address) < BigInt(b.address) ? -1 : 1));
    const near = (signer: JsonRpcSigner, offset: number): AcceptedEntry => ({
      address: getAddress('0x' + (BigInt(signer.address) + BigInt(offset)).toString(16).padStart(40, '0')),
      commitment: ZeroHash,
      amount: '1',
    });
    const span = (count: number, from: (k: number) => AcceptedEntry) =>
      Array.from({ length: count }, (_, k) => from(k));
    const entries: AcceptedEntry[] = [
      ...span(59, (k) => near(first!, -(k + 1))),
      (await contribute(id, 1, first!, 10n)).entry,
      (await contribute(id, 1, second!, 20n)).entry,
      ...span(126, (k) => near(second!, k + 1)),
      (await contribute(id, 1, third!, 30n)).entry,
      ...span(62, (k) => near(third!, k + 1)),
    ];
    const [atFirst, atSecond, atThird] = [first!, second!, third!].map((s) => leafIn(entries, s.address));
    expect([atFirst!.leaf.index, atSecond!.leaf.index, atThird!.leaf.index]).to.deep.equal([59, 60, 187]);
    await openAndClose(key, 1, entries);
    await (await as(mallory).challenge(key, 1, atThird!.leaf, atThird!.proof)).wait();
    await advance(WINDOW);
    await (await as(first!).claim(key, [claimOf(1, entries, first!.address)])).wait();
    await (await as(second!).claim(key, [claimOf(1, entries, second!.address)])).wait();
    await reverts(as(third!).claim(key, [claimOf(1, entries, third!.address)]), 'Rewards__Disputed');
    const status = async (index: number) => rewards.leafStatus(key, 1, index);
    expect(await status(59)).to.deep.equal({ claimed: true, challenge: 'none' });
    expect(await status(60)).to.deep.equal({ claimed: true, challenge: 'none' });
    for (const neighbour of [0, 58, 61, 186, 188, 249]) expect((await status(neighbour)).claimed).to.equal(false);
    expect((await status(187)).challenge).to.equal('open');
    await reverts(as(second!).claim(key, [claimOf(1, entries, second!.address)]), 'Rewards__AlreadyClaimed');
    expect((await rewards.round(key, 1)).unpaid).to.equal(acceptedTotal(entries) - 30n);
  });

  it('never pays a round more than its pool, nor more than the total it was closed with', async () => {
    const { id, key } = await createTask({ rewardPerRound: 1000n });
    await (await as(coordinator).openRound(key, 1, '0x' + modelHash(1))).wait();
    const [a, b] = [await contribute(id, 1, alice, 800n), await contribute(id, 1, bob, 800n)];
    const entries = [a.entry, b.entry];
    await reverts(as(coordinator).closeRound(key, 1, acceptedRoot(entries), 2, 1600n), 'Rewards__OverPool');
    // A coordinator that posts leaves adding up to more than the total it declares: the total still holds.
    await (await as(coordinator).closeRound(key, 1, acceptedRoot(entries), 2, 1000n)).wait();
    await advance(WINDOW);
    await (await as(alice).claim(key, [claimOf(1, entries, alice.address)])).wait();
    await reverts(as(bob).claim(key, [claimOf(1, entries, bob.address)]), 'Rewards__OverRoundTotal');
  });

  it("lets a round pay what earlier rounds left unallotted, never a later round's pool, and gives the owner the rest", async () => {
    const { id, key } = await createTask({ rewardPerRound: 1000n, rounds: 3 });
    const round = async (number: number, amounts: bigint[]) => {
      const signers = [alice, bob];
      const made = await Promise.all(amounts.map((amount, k) => contribute(id, number, signers[k]!, amount)));
      return made.map(({ entry }) => entry);
    };
    const first = await round(1, [400n]);
    await openAndClose(key, 1, first);
    // Round 2 may post the 600 round 1 left, on top of its own 1000, and not a token more.
    const second = await round(2, [900n, 700n]);
    await (await as(coordinator).openRound(key, 2, '0x' + modelHash(2))).wait();
    await reverts(as(coordinator).closeRound(key, 2, acceptedRoot(second), 2, 1700n), 'Rewards__OverPool');
    await (await as(coordinator).closeRound(key, 2, acceptedRoot(second), 2, 1600n)).wait();
    // Round 3 has only its own pool left: posting round 4's, which does not exist, is refused.
    const third = await round(3, [900n]);
    await (await as(coordinator).openRound(key, 3, '0x' + modelHash(3))).wait();
    await reverts(as(coordinator).closeRound(key, 3, acceptedRoot(third), 1, 1001n), 'Rewards__OverPool');
    await (await as(coordinator).closeRound(key, 3, acceptedRoot(third), 1, 900n)).wait();
    await advance(WINDOW);
    const claims = [claimOf(1, first, alice.address), claimOf(2, second, alice.address)];
    await (await as(alice).claim(key, claims)).wait();
    await (await as(bob).claim(key, [claimOf(2, second, bob.address)])).wait();
    await advance(31 * 86_400);
    const before = await token.balanceOf(owner.address);
    await (await as(owner).reclaim(key)).wait();
    // 100 round 3 did not allot, and round 3's 900 nobody claimed: the 3000 escrowed less the 2000 paid.
    expect((await token.balanceOf(owner.address)) - before).to.equal(1000n);
  });

  it('answers a challenge to an honest leaf with its proofs: the challenger loses its bond, the leaf is paid', async () => {
    const { id, key } = await createTask({ chunks: 2 });
    const a = await contribute(id, 1, alice, 500n, { chunks: 2 });
    const entries = [a.entry];
    await openAndClose(key, 1, entries);
    const { leaf, proof } = leafIn(entries, alice.address);
    const malloryBefore = await token.balanceOf(mallory.address);
    await (await as(mallory).challenge(key, 1, leaf, proof)).wait();
    await reverts(as(carol).challenge(key, 1, leaf, proof), 'Rewards__AlreadyChallenged');
    await reverts(as(mallory).resolveChallenge(key, 1, leaf.index), 'Rewards__AnswerWindowOpen');
    // Wrong answers are refused without ending the dispute: a chunk missing, chunks swapped, another scale.
    const [first, second] = onchainProofs(a);
    await reverts(as(alice).answerChallenge(key, 1, leaf, [first!]), 'Rewards__WrongChunkCount');
    await reverts(as(alice).answerChallenge(key, 1, leaf, [second!, first!]), 'Rewards__StatementMismatch');
    const rescaled = onchainProofs(a).map((p) => ({ ...p, fractionBits: FRACTION_BITS - 1 }));
    await reverts(as(alice).answerChallenge(key, 1, leaf, rescaled), 'Rewards__StatementMismatch');
    // Alice defends her own leaf: anyone holding the proofs may.
    const aliceBefore = await token.balanceOf(alice.address);
    await (await as(alice).answerChallenge(key, 1, leaf, onchainProofs(a))).wait();
    expect((await rewards.leafStatus(key, 1, leaf.index)).challenge).to.equal('answered');
    expect((await token.balanceOf(alice.address)) - aliceBefore).to.equal(CHALLENGE_BOND);
    expect(malloryBefore - (await token.balanceOf(mallory.address))).to.equal(CHALLENGE_BOND);
    await advance(WINDOW);
    await (await as(alice).claim(key, [claimOf(1, entries, alice.address)])).wait();
    expect((await rewards.task(key))!.openDisputes).to.equal(0);
  });

  it('voids a leaf whose proofs nobody can show, and pays the challenger from the coordinator bond', async () => {
    const { id, key } = await createTask();
    const honest = await contribute(id, 1, alice, 300n);
    // The coordinator lists Bob with a commitment no proof of his backs (say, an update it never verified).
    const forged: AcceptedEntry = { address: bob.address, commitment: '0x' + 'ab'.repeat(32), amount: '700' };
    const entries = [honest.entry, forged];
    await openAndClose(key, 1, entries);
    const { leaf, proof } = leafIn(entries, bob.address);
    await (await as(carol).challenge(key, 1, leaf, proof)).wait();
    // Bob's real proofs do not open this commitment.
    const bobsReal = await contribute(id, 1, bob, 700n);
    await reverts(as(bob).answerChallenge(key, 1, leaf, onchainProofs(bobsReal)), 'Rewards__CommitmentMismatch');
    // Another leaf's proofs under this leaf fail their statement (another contributor).
    await reverts(as(bob).answerChallenge(key, 1, leaf, onchainProofs(honest)), 'Rewards__StatementMismatch');
    await advance(ANSWER + 1);
    await reverts(as(bob).answerChallenge(key, 1, leaf, onchainProofs(bobsReal)), 'Rewards__AnswerWindowClosed');
    await reverts(as(bob).claim(key, [claimOf(1, entries, bob.address)]), 'Rewards__ChallengeWindowOpen');
    await advance(WINDOW);
    // Unanswered but not yet resolved: still disputed, not payable.
    await reverts(as(bob).claim(key, [claimOf(1, entries, bob.address)]), 'Rewards__Disputed');
    const carolBefore = await token.balanceOf(carol.address);
    await (await as(mallory).resolveChallenge(key, 1, leaf.index)).wait();
    expect((await token.balanceOf(carol.address)) - carolBefore).to.equal(2n * CHALLENGE_BOND);
    expect((await rewards.task(key))!.bond).to.equal(BOND - CHALLENGE_BOND);
    await reverts(as(mallory).resolveChallenge(key, 1, leaf.index), 'Rewards__NotChallenged');
    await reverts(as(bob).claim(key, [claimOf(1, entries, bob.address)]), 'Rewards__Voided');
    await (await as(alice).claim(key, [claimOf(1, entries, alice.address)])).wait();
  });

  it("locks a stake per contributor, forfeits a voided leaf's to the owner, and returns the others once no leaf can be challenged", async () => {
    const STAKE = 50n;
    const { id, key } = await createTask({ rounds: 1, stake: STAKE });
    const before = await token.balanceOf(alice.address);
    await (await as(alice).stake(key)).wait();
    await (await as(bob).stake(key)).wait();
    expect([await rewards.stakeOf(key, alice.address), before - (await token.balanceOf(alice.address))]).to.deep.equal([
      STAKE,
      STAKE,
    ]);
    await reverts(as(alice).stake(key), 'Rewards__AlreadyStaked');
    await reverts(as(carol).unstake(key), 'Rewards__NotStaked');
    await reverts(as(alice).unstake(key), 'Rewards__StakeLocked');
    const { key: unstaked } = await createTask();
    await reverts(as(alice).stake(unstaked), 'Rewards__NoStake');
    // Bob's leaf names a commitment nobody can back: challenged, unanswered, voided.
    const honest = await contribute(id, 1, alice, 300n);
    const forged: AcceptedEntry = { address: bob.address, commitment: '0x' + 'cd'.repeat(32), amount: '700' };
    const entries = [honest.entry, forged];
    await openAndClose(key, 1, entries);
    await reverts(as(alice).unstake(key), 'Rewards__StakeLocked');
    const { leaf, proof } = leafIn(entries, bob.address);
    await (await as(carol).challenge(key, 1, leaf, proof)).wait();
    await advance(WINDOW + ANSWER + 1);
    await (await as(alice).claim(key, [claimOf(1, entries, alice.address)])).wait();
    // The window has passed, but a dispute is open: nobody's stake moves yet.
    await reverts(as(alice).unstake(key), 'Rewards__DisputesOpen');
    // After the deadline the owner takes back what the round did not pay (Bob's 700).
    await advance(40 * 86_400);
    const ownerBefore = await token.balanceOf(owner.address);
    await (await as(owner).reclaim(key)).wait();
    expect((await token.balanceOf(owner.address)) - ownerBefore).to.equal(POOL - 300n);
    // Bob's leaf is voided only now: his stake is forfeited, and the owner takes it, though every round was reclaimed.
    await (await as(mallory).resolveChallenge(key, 1, leaf.index)).wait();
    expect([await rewards.stakeOf(key, bob.address), (await rewards.task(key))!.forfeited]).to.deep.equal([0n, STAKE]);
    await (await as(owner).reclaim(key)).wait();
    expect((await token.balanceOf(owner.address)) - ownerBefore).to.equal(POOL - 300n + STAKE);
    await reverts(as(owner).reclaim(key), 'Rewards__AlreadyReclaimed');
    await reverts(as(bob).unstake(key), 'Rewards__NotStaked');
    await (await as(alice).unstake(key)).wait();
    expect((await token.balanceOf(alice.address)) - before).to.equal(300n);
  });

  it('refuses challenges after the window and claims before it, of leaves not in the set', async () => {
    const { id, key } = await createTask();
    const a = await contribute(id, 1, alice, 100n);
    const entries = [a.entry];
    const { leaf, proof } = leafIn(entries, alice.address);
    await (await as(coordinator).openRound(key, 1, '0x' + modelHash(1))).wait();
    await reverts(as(mallory).challenge(key, 1, leaf, proof), 'Rewards__RoundNotClosed');
    await (await as(coordinator).closeRound(key, 1, acceptedRoot(entries), 1, 100n)).wait();
    await reverts(as(mallory).challenge(key, 1, { ...leaf, amount: 99n }, proof), 'Rewards__NotInSet');
    await reverts(as(mallory).answerChallenge(key, 1, leaf, onchainProofs(a)), 'Rewards__NotChallenged');
    await advance(WINDOW);
    await reverts(as(mallory).challenge(key, 1, leaf, proof), 'Rewards__ChallengeWindowClosed');
  });

  it("pays a receipt holder left out of the set from the coordinator's bond, unless the leaf is shown", async () => {
    const { id, key } = await createTask();
    const chain = { chainId: Number((await provider.getNetwork()).chainId), verifyingContract: deployment.rewards };
    const [a, b, c] = [
      await contribute(id, 1, alice, 600n),
      await contribute(id, 1, bob, 200n),
      await contribute(id, 1, carol, 0n),
    ];
    // Carol was accepted (she holds the receipt) but left out; Bob is in the set.
    const entries = [a.entry, b.entry];
    await openAndClose(key, 1, entries);
    const receipt = async (contribution: Contribution, signer = coordinator) =>
      signReceipt(
        signer,
        { taskKey: key, round: 1, contributor: contribution.address, updateCommitment: contribution.entry.commitment },
        chain,
      );
    const forged = await receipt(c, mallory);
    await reverts(as(carol).claimOmission(key, 1, c.entry.commitment, forged.signature), 'Rewards__InvalidReceipt');
    const carols = await receipt(c);
    // A receipt for someone else's update does not serve Carol.
    await reverts(
      as(carol).claimOmission(key, 1, b.entry.commitment, (await receipt(b)).signature),
      'Rewards__InvalidReceipt',
    );
    await (await as(carol).claimOmission(key, 1, c.entry.commitment, carols.signature)).wait();
    await reverts(
      as(carol).claimOmission(key, 1, c.entry.commitment, carols.signature),
      'Rewards__OmissionAlreadyClaimed',
    );
    // Bob claims an omission too, but he is in the set: anyone shows his leaf and dismisses it.
    await (await as(bob).claimOmission(key, 1, b.entry.commitment, (await receipt(b)).signature)).wait();
    const bobs = leafIn(entries, bob.address);
    await (await as(mallory).showLeaf(key, 1, bobs.leaf, bobs.proof)).wait();
    expect(await rewards.omission(key, 1, bob.address)).to.equal('answered');
    await reverts(as(carol).resolveOmission(key, 1, carol.address), 'Rewards__AnswerWindowOpen');
    await advance(ANSWER + 1);
    const before = await token.balanceOf(carol.address);
    await (await as(mallory).resolveOmission(key, 1, carol.address)).wait();
    // At least the round's mean amount: (600 + 200) / 2 = 400, and at least pool / (count + 1).
    expect((await token.balanceOf(carol.address)) - before).to.equal(POOL / 3n);
    await reverts(as(mallory).resolveOmission(key, 1, carol.address), 'Rewards__NoOmissionClaim');
    await advance(WINDOW);
    await reverts(
      as(carol).claimOmission(key, 1, c.entry.commitment, carols.signature),
      'Rewards__ChallengeWindowClosed',
    );
  });

  it('lets only the bonded coordinator open and close rounds, in order', async () => {
    const { key } = await createTask({ rounds: 2, coordinatorBond: BOND });
    const { key: unbonded } = await createTask({ coordinatorBond: BOND }, BOND - 1n);
    await reverts(as(coordinator).openRound(unbonded, 1, '0x' + modelHash(1)), 'Rewards__BondMissing');
    await (await as(coordinator).postBond(unbonded, 1n)).wait();
    await (await as(coordinator).openRound(unbonded, 1, '0x' + modelHash(1))).wait();
    await reverts(as(mallory).postBond(key, 1n), 'Rewards__NotCoordinator');
    await reverts(as(mallory).openRound(key, 1, '0x' + modelHash(1)), 'Rewards__NotCoordinator');
    await reverts(as(owner).openRound(key, 1, '0x' + modelHash(1)), 'Rewards__NotCoordinator');
    await reverts(as(coordinator).openRound(key, 2, '0x' + modelHash(2)), 'Rewards__RoundOutOfRange');
    await (await as(coordinator).openRound(key, 1, '0x' + modelHash(1))).wait();
    await reverts(as(coordinator).openRound(key, 1, '0x' + modelHash(1)), 'Rewards__RoundAlreadyOpen');
    await reverts(as(coordinator).openRound(key, 2, '0x' + modelHash(2)), 'Rewards__PreviousRoundOpen');
    const root = acceptedRoot([{ address: alice.address, commitment: '0x' + '11'.repeat(32), amount: '1' }]);
    await reverts(as(mallory).closeRound(key, 1, root, 1, 1n), 'Rewards__NotCoordinator');
    await reverts(as(coordinator).closeRound(key, 2, root, 1, 1n), 'Rewards__RoundNotOpen');
    await reverts(as(coordinator).closeRound(key, 1, ZeroHash, 1, 1n), 'Rewards__InvalidParameters');
    await (await as(coordinator).closeRound(key, 1, root, 1, 1n)).wait();
    await reverts(as(coordinator).closeRound(key, 1, root, 1, 1n), 'Rewards__RoundAlreadyClosed');
    await (await as(coordinator).openRound(key, 2, '0x' + modelHash(2))).wait();
    await reverts(as(coordinator).openRound(key, 3, '0x' + modelHash(3)), 'Rewards__RoundOutOfRange');
  });

  it('refuses a second task under the same key and tasks it could not pay out', async () => {
    const { key } = await createTask();
    const params = (await rewards.task(key))!;
    await reverts(rewards.createTask(key, params), 'Rewards__TaskExists');
    const fresh = taskKey('t-none');
    const now = (await provider.getBlock('latest'))!.timestamp;
    // What a task must leave its contributors: the windows and the claim period before its deadline.
    const tightest = now + 10 + WINDOW + ANSWER + CLAIM_PERIOD;
    for (const [bad, why] of [
      [{ deadline: 1 }, 'deadline leaves no time to claim'],
      [{ deadline: tightest - 20 }, 'deadline leaves no time to claim'],
      [{ claimPeriod: 3599 }, 'claim period too short'],
      [{ chunks: 65 }, 'more chunks than an answer can verify'],
      // A thousandth of the pool per chunk at the least: 50 tokens for 51 chunks of a 1000-token round is under it.
      [{ chunks: 51 }, 'challenge bond under its floor'],
      [{ rewardPerRound: 1n << 128n }, 'pool too large'],
      // Three rounds of a third of 2^96, plus one: the whole pool must fit the 96 bits its totals are kept in.
      [{ rewardPerRound: (1n << 96n) / 3n + 1n }, 'pool too large'],
      [{ rewardPerRound: 0n }, 'no reward'],
      [{ baseShareBps: 10_001 }, 'base share over 100%'],
      [{ challengeWindow: 0 }, 'no windows'],
      [{ challengeBond: 0n }, 'challenge bond under its floor'],
      [{ rounds: 0 }, 'no rounds or no chunks'],
      [{ verificationKey: ZeroHash }, 'no verification key'],
    ] as const) {
      const error = await rewards.createTask(fresh, { ...params, ...bad }).catch((e: unknown) => e);
      expect([bad, revertName(error), revertArgs(error)]).to.deep.equal([bad, 'Rewards__InvalidParameters', [why]]);
    }
    // At the floor exactly, and at the tightest deadline, a task is taken.
    await (await rewards.createTask(fresh, { ...params, chunks: 50, deadline: tightest })).wait();
    expect(await rewards.maxChunks()).to.equal(MAX_CHUNKS);
    await reverts(as(owner).reclaim(key), 'Rewards__TaskNotEnded');
    await reverts(as(coordinator).withdrawBond(key), 'Rewards__TaskNotEnded');
  });

  it('opens no round too late for its contributors to claim it before the deadline', async () => {
    const now = (await provider.getBlock('latest'))!.timestamp;
    const deadline = now + 100 + WINDOW + ANSWER + CLAIM_PERIOD;
    const { key } = await createTask({ deadline });
    await openAndClose(key, 1, []);
    await advance(101);
    await reverts(as(coordinator).openRound(key, 2, '0x' + modelHash(2)), 'Rewards__TooLate');
  });

  it('answers a challenge to a leaf of the most chunks a task may have within a block', async () => {
    // 64 proofs of the 30-value test circuit: on-chain, a chunk's verification costs the same whatever its size.
    const { id, key } = await createTask({ chunks: MAX_CHUNKS, challengeBond: (POOL * BigInt(MAX_CHUNKS)) / 1000n });
    const largest = await contribute(id, 1, alice, 500n, { chunks: MAX_CHUNKS });
    const entries = [largest.entry];
    await openAndClose(key, 1, entries);
    const { leaf, proof } = leafIn(entries, alice.address);
    await (await as(mallory).challenge(key, 1, leaf, proof)).wait();
    const answered = await (await as(alice).answerChallenge(key, 1, leaf, onchainProofs(largest))).wait();
    const blockGasLimit = (await provider.getBlock('latest'))!.gasLimit;
    expect(answered!.gasUsed < blockGasLimit / 2n, `${answered!.gasUsed} of ${blockGasLimit}`).to.equal(true);
    expect((await rewards.leafStatus(key, 1, leaf.index)).challenge).to.equal('answered');
  });

  it('gives a long task back to its owner 500 rounds per reclaim', async () => {
    const now = (await provider.getBlock('latest'))!.timestamp;
    const soonest = now + 60 + WINDOW + ANSWER + CLAIM_PERIOD;
    const { key } = await createTask({ rounds: 501, rewardPerRound: 3n, deadline: soonest }, 0n);
    await advance(soonest - now + 1);
    const before = await token.balanceOf(owner.address);
    // No round allotted anything: the first call gives it all back; the rounds' unclaimed rests take two calls.
    await (await as(owner).reclaim(key)).wait();
    expect((await token.balanceOf(owner.address)) - before).to.equal(1503n);
    expect((await rewards.task(key))!.reclaimedThrough).to.equal(500);
    await (await as(owner).reclaim(key)).wait();
    expect((await token.balanceOf(owner.address)) - before).to.equal(1503n);
    await reverts(as(owner).reclaim(key), 'Rewards__AlreadyReclaimed');
  });

  /**
   * Round 2 of the seeded run: the coordinator forged a leaf for an address that sent nothing (Carol challenges it,
   * and it is voided) and left Alice out (she holds a receipt, and claims the omission). The bond pays for both; the
   * coordinator tops it up before it may open another round.
   */
  async function forgeryAndOmissionSettled(key: string, entries: AcceptedEntry[], alicesEntry: AcceptedEntry) {
    const chain = { chainId: Number((await provider.getNetwork()).chainId), verifyingContract: deployment.rewards };
    const forged = leafIn(entries, owner.address);
    await (await as(carol).challenge(key, 2, forged.leaf, forged.proof)).wait();
    const signed = await signReceipt(
      coordinator,
      { taskKey: key, round: 2, contributor: alice.address, updateCommitment: alicesEntry.commitment },
      chain,
    );
    await (await as(alice).claimOmission(key, 2, alicesEntry.commitment, signed.signature)).wait();
    await advance(ANSWER + 1);
    await (await as(bob).resolveChallenge(key, 2, forged.leaf.index)).wait();
    await (await as(bob).resolveOmission(key, 2, alice.address)).wait();
    const onchain = (await rewards.task(key))!;
    await reverts(as(coordinator).openRound(key, 3, '0x' + modelHash(3)), 'Rewards__BondMissing');
    await (await as(coordinator).postBond(key, onchain.coordinatorBond - onchain.bond)).wait();
  }

  /** One round of the seeded run, its leaves' claims added to `claims` by address. */
  async function seededRound(task: { id: string; key: string }, round: number, pool: bigint, random: Random) {
    const signers = [alice, bob, carol, mallory];
    const count = 1 + random.int(signers.length);
    const weights = Array.from({ length: count }, () => BigInt(random.int(100)));
    const sum = weights.reduce((a, b) => a + b, 0n) || 1n;
    const accepted = await Promise.all(
      signers.slice(0, count).map((signer, i) => contribute(task.id, round, signer, (pool * weights[i]!) / sum)),
    );
    const entries = accepted.map((c) => c.entry).filter((entry) => round !== 2 || entry.address !== alice.address);
    if (round === 2) entries.push({ address: owner.address, commitment: '0x' + 'cd'.repeat(32), amount: '1' });
    await openAndClose(task.key, round, entries, acceptedTotal(entries) > pool ? pool : acceptedTotal(entries));
    if (round === 2) {
      await forgeryAndOmissionSettled(task.key, entries, accepted.find((c) => c.address === alice.address)!.entry);
    }
    const claims = entries
      .filter((entry) => entry.address !== owner.address && BigInt(entry.amount) !== 0n)
      .map((entry) => [entry.address, claimOf(round, entries, entry.address)] as const);
    await advance(WINDOW);
    return claims;
  }

  it('conserves funds over a seeded multi-round run with scores, a voided leaf and an omission', async () => {
    const random = new Random(7);
    const rounds = 4;
    const everyone = [owner, coordinator, alice, bob, carol, mallory];
    const balances = async (): Promise<bigint[]> => Promise.all(everyone.map((s) => token.balanceOf(s.address)));
    const start = await balances();
    const contractStart = await token.balanceOf(deployment.rewards);
    const pool = 1000n + BigInt(random.int(1000));
    const task = await createTask({ rounds, rewardPerRound: pool });
    const key = task.key;
    const claims = new Map<string, LeafClaim[]>();
    for (let round = 1; round <= rounds; round++) {
      for (const [address, claim] of await seededRound(task, round, pool, random)) {
        claims.set(address, [...(claims.get(address) ?? []), claim]);
      }
    }
    // Every contributor but Carol claims all its rounds at once; Carol's share stays for the owner.
    let paid = 0n;
    for (const signer of [alice, bob, mallory]) {
      const mine = claims.get(signer.address) ?? [];
      if (mine.length === 0) continue;
      await (await as(signer).claim(key, mine)).wait();
      paid += mine.reduce((sum, item) => sum + item.amount, 0n);
    }
    let claimedByRound = 0n;
    for (let round = 1; round <= rounds; round++) {
      const onchain = await rewards.round(key, round);
      claimedByRound += onchain.total - onchain.unpaid;
    }
    expect(claimedByRound).to.equal(paid);
    await advance(31 * 86_400);
    await reverts(as(alice).claim(key, claims.get(carol.address) ?? []), 'Rewards__TaskEnded');
    await reverts(as(alice).reclaim(key), 'Rewards__NotOwner');
    await (await as(owner).reclaim(key)).wait();
    await reverts(as(owner).reclaim(key), 'Rewards__AlreadyReclaimed');
    await (await as(coordinator).withdrawBond(key)).wait();
    const end = await balances();
    // Tokens only moved between these accounts, and the contract holds for this task exactly what it held before.
    expect(end.reduce((a, b) => a + b, 0n)).to.equal(start.reduce((a, b) => a + b, 0n));
    expect(await token.balanceOf(deployment.rewards)).to.equal(contractStart);
    const events = async (name: string): Promise<EventLog[]> => rewards.events(name, key);
    const claimed = (await events('RewardClaimed')).reduce((sum, log) => sum + (log.args[3] as bigint), 0n);
    const [reclaimed] = (await events('Reclaimed')).map((log) => log.args[2] as bigint);
    expect(claimed + reclaimed!).to.equal(pool * BigInt(rounds));
  });
});
