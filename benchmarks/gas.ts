/**
 * `npm run bench:gas`: what settlement costs on-chain, on Hardhat's in-process chain (cancun), and what scoring costs
 * the coordinator. Happy path: a contributor's claim of 1 round and of 10 rounds in one call, for tasks of 1 and of
 * 15 chunks (the happy path verifies no proof, so the two should cost the same); the coordinator's open and close of
 * a round of 4, 100 and 1,000 contributors; a stake locked and taken back. Disputes: a challenge and its answer for
 * leaves of 1, 2 and 4 chunks (real proofs of the tests' 30-value circuit: verification costs the same for every
 * chunk size), so the cost per chunk. Scoring: the round's contribution scores for 4 and 10 updates of the demo CNN
 * and the NIID-Bench CNN. Writes benchmarks/results/gas.{json,md}.
 *
 *   ZKFL_PTAU=… npm run bench:gas
 */
import { createHash } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { type ContractTransactionResponse, getAddress, type JsonRpcSigner, Wallet } from 'ethers';
import { buildCircuit, terminateCurve, verificationKeySha256 } from '../circuits/build.js';
import { randomSalt } from '../circuits/salt.js';
import { circuitParams } from '../circuits/params.js';
import { proveUpdate } from '../circuits/prover.js';
import { taskKey } from '../circuits/statement.js';
import {
  type AcceptedEntry,
  acceptedLeaf,
  leafClaim,
  acceptedRoot,
  acceptedTotal,
  solidityChunkProof,
  updateCommitment,
} from '../contracts/accepted-set.js';
import { inProcessChain } from '../contracts/chain.js';
import { deployZkfl, verifierFor } from '../contracts/deployment.js';
import { type OnchainTaskParams, RewardsContract, TokenContract } from '../contracts/rewards.js';
import { Random } from '../common/random.js';
import { initBackend } from '../ml/backend.js';
import { head, loadDataset } from '../ml/dataset.js';
import { buildModel } from '../ml/models.js';
import { defaultScoringOptions, scoreRound } from '../ml/scoring.js';
import { countParams, getFlatWeights } from '../ml/weights.js';
import { fashionMnist } from '../demo/fashion-mnist.js';
import type { ModelSpec } from '../protocol/task-spec.js';
import { machine } from './lib/machine.js';

const provider = inProcessChain();
const signers = await Promise.all(Array.from({ length: 12 }, (_, i) => provider.getSigner(i)));
const [owner, coordinator, challenger, ...contributors] = signers as [
  JsonRpcSigner,
  JsonRpcSigner,
  JsonRpcSigner,
  ...JsonRpcSigner[],
];
const test = await buildCircuit(circuitParams.test, { ptau: process.env.ZKFL_PTAU });
const gasOf = async (sent: Promise<ContractTransactionResponse>): Promise<number> =>
  Number((await (await sent).wait())!.gasUsed);
const advance = async (seconds: number): Promise<void> => {
  await provider.send('evm_increaseTime', [seconds]);
  await provider.send('evm_mine', []);
};

const deployed = await deployZkfl(owner, [test]);
const rewards = new RewardsContract(deployed.rewards, owner);
const token = new TokenContract(deployed.token, owner);
for (const signer of signers) {
  await (await token.mint(signer.address, 10n ** 30n)).wait();
  await (await token.connect(signer).approve(deployed.rewards, 10n ** 30n)).wait();
}
const modelHash = (round: number): string => createHash('sha256').update(`weights ${round}`).digest('hex');
const WINDOW = 600;
let tasks = 0;

async function createTask(chunks: number, rounds: number, stake = 0n): Promise<{ id: string; key: string }> {
  const id = `t-gas-${++tasks}`;
  const key = taskKey(id);
  const params: OnchainTaskParams = {
    coordinator: coordinator.address,
    token: deployed.token,
    verifier: verifierFor(deployed, test.params.name),
    verificationKey: '0x' + verificationKeySha256(test),
    rounds,
    chunks,
    baseShareBps: 0,
    clipSquareX96: (10n ** 6n) << 96n,
    deadline: (await provider.getBlock('latest'))!.timestamp + 365 * 86_400,
    challengeWindow: WINDOW,
    answerWindow: WINDOW,
    claimPeriod: 86_400,
    stake,
    rewardPerRound: 10n ** 21n,
    coordinatorBond: 10n ** 21n,
    // The contract's floor: a thousandth of a round's pool per chunk.
    challengeBond: (10n ** 21n / 1000n) * BigInt(chunks),
  };
  await (await rewards.createTask(key, params)).wait();
  await (await rewards.connect(coordinator).postBond(key, params.coordinatorBond)).wait();
  return { id, key };
}

/** `count` leaves: the first are the real contributors', the rest stand-ins, amounts adding up to under the pool. */
function entries(count: number, seed: number): AcceptedEntry[] {
  const random = new Random(seed);
  return Array.from({ length: count }, (_, i) => ({
    address: i < contributors.length ? contributors[i]!.address : getAddress(Wallet.createRandom().address),
    commitment: '0x' + createHash('sha256').update(`${seed} ${i}`).digest('hex'),
    amount: String(10n ** 17n + BigInt(random.int(1_000_000))),
  }));
}

/** Opens and closes `round` with `count` leaves: the coordinator's gas for each. */
async function openAndClose(key: string, round: number, set: AcceptedEntry[]): Promise<[number, number]> {
  const asCoordinator = rewards.connect(coordinator);
  const open = await gasOf(asCoordinator.openRound(key, round, '0x' + modelHash(round)));
  const close = await gasOf(asCoordinator.closeRound(key, round, acceptedRoot(set), set.length, acceptedTotal(set)));
  return [open, close];
}

const claimOf = (round: number, set: AcceptedEntry[], address: string) => leafClaim(round, set, address)!;

interface ClaimRow {
  chunks: number;
  rounds: number;
  contributors: number;
  /** The whole claim transaction. */
  claimGas: number;
  perRound: number;
}

/** A task of `rounds` rounds of `count` contributors; the gas of one contributor's claim of all of them. */
async function claimRow(chunks: number, rounds: number, count: number): Promise<ClaimRow> {
  const { key } = await createTask(chunks, rounds);
  const claims = [];
  for (let round = 1; round <= rounds; round++) {
    const set = entries(count, tasks * 1000 + round);
    await openAndClose(key, round, set);
    claims.push(claimOf(round, set, contributors[1]!.address));
  }
  await advance(WINDOW);
  const claimGas = await gasOf(rewards.connect(contributors[1]!).claim(key, claims));
  return { chunks, rounds, contributors: count, claimGas, perRound: Math.round(claimGas / rounds) };
}

const claimRows: ClaimRow[] = [];
// The contributor's first token receipt creates its balance slot (20k gas once in its life): pay that first.
await claimRow(1, 1, 4);
for (const chunks of [1, 15]) {
  for (const rounds of [1, 10]) claimRows.push(await claimRow(chunks, rounds, 4));
}
claimRows.push(await claimRow(1, 1, 1000));

const roundRows: Array<{ contributors: number; open: number; close: number }> = [];
for (const count of [4, 100, 1000]) {
  const { key } = await createTask(1, 1);
  const [open, close] = await openAndClose(key, 1, entries(count, 7 + count));
  roundRows.push({ contributors: count, open, close });
}

/** A contributor's stake locked for a task that asks one, and taken back once no leaf can be challenged. */
async function stakeRow(): Promise<{ stake: number; unstake: number }> {
  const { key } = await createTask(1, 1, 10n ** 18n);
  const holder = contributors[2]!;
  const stake = await gasOf(rewards.connect(holder).stake(key));
  await openAndClose(key, 1, entries(4, 4242));
  await advance(WINDOW + 1);
  const unstake = await gasOf(rewards.connect(holder).unstake(key));
  return { stake, unstake };
}
const stakeGas = await stakeRow();

/** A challenge to an honest leaf of `chunks` chunks, and its answer with the real proofs. */
async function disputeRow(chunks: number): Promise<{ chunks: number; challenge: number; answer: number }> {
  const { id, key } = await createTask(chunks, 1);
  const signer = contributors[0]!;
  const q = Int8Array.from({ length: test.params.chunkSize * chunks }, (_, i) => (i % 7) - 3);
  const fractionBits = Array<number>(chunks).fill(10);
  const statement = {
    taskId: id,
    round: 1,
    address: signer.address,
    modelHash: modelHash(1),
    clipSquareX96: (10n ** 6n) << 96n,
    verificationKey: verificationKeySha256(test),
  };
  const proofs = await proveUpdate(statement, randomSalt(), q, fractionBits, test);
  const commitment = updateCommitment(proofs.map((proof) => proof.publicSignals[0]!));
  const set = [{ address: signer.address, commitment, amount: '1000' }, ...entries(3, 99).slice(1)];
  await openAndClose(key, 1, set);
  const { leaf, proof } = acceptedLeaf(set, signer.address)!;
  const challenge = await gasOf(rewards.connect(challenger).challenge(key, 1, leaf, proof));
  const answer = await gasOf(
    rewards.connect(coordinator).answerChallenge(
      key,
      1,
      leaf,
      proofs.map((p, k) => solidityChunkProof(p, fractionBits[k]!)),
    ),
  );
  return { chunks, challenge, answer };
}
const disputeRows = [];
for (const chunks of [1, 2, 4]) disputeRows.push(await disputeRow(chunks));
await terminateCurve();
const perChunk = Math.round((disputeRows[2]!.answer - disputeRows[0]!.answer) / 3);

/** Seconds to score a round of `count` updates of `model` on 500 evaluation examples. */
async function scoringSeconds(
  model: ModelSpec,
  count: number,
): Promise<{ seconds: number; evaluations: number; method: string; params: number }> {
  await initBackend();
  const tfModel = await buildModel(model, [28, 28, 1], 10, 1);
  const global = getFlatWeights(tfModel);
  const random = new Random(count);
  // Updates of different sizes and quality: a common direction plus noise, one of them zero.
  const direction = Float32Array.from(global, () => random.normal() * 0.01);
  const updates = Array.from({ length: count }, (_, k) => {
    const weight = k === count - 1 ? 0 : 0.5 + random.next();
    const q = Int8Array.from(direction, (value) =>
      Math.max(-31, Math.min(31, Math.round((value * weight + random.normal() * 0.003) * 2 ** 10))),
    );
    return { q, fractionBits: Array<number>(Math.ceil(global.length / 8100)).fill(10), weight: 1000 + 500 * k };
  });
  const data = fashionMnist(process.env.ZKFL_FASHION_MNIST ?? '/usr/share/datasets/fashion-mnist');
  const scored = await scoreRound({
    model: tfModel,
    global,
    updates,
    chunkSize: 8100,
    scoringSet: head(loadDataset(data.test), 500),
    inputShape: [28, 28, 1],
    classes: 10,
    options: { ...defaultScoringOptions, seed: 1 },
  });
  const params = countParams(tfModel);
  tfModel.dispose();
  return { seconds: scored.seconds, evaluations: scored.evaluations, method: scored.method, params };
}
const scoringRows = [];
for (const [name, model] of [
  ['demo CNN', { preset: 'cnn', filters: [4, 10], hidden: [] }],
  ['NIID-Bench CNN', { preset: 'cnn' }],
] as Array<[string, ModelSpec]>) {
  for (const count of [4, 10])
    scoringRows.push({ model: name, clients: count, ...(await scoringSeconds(model, count)) });
}

const oneRound = claimRows.find((row) => row.chunks === 1 && row.rounds === 1 && row.contributors === 4)!;
const tenRounds = claimRows.find((row) => row.chunks === 1 && row.rounds === 10)!;
const md = [
  '# Gas per on-chain step, and the cost of scoring',
  '',
  `Machine: ${machine()}. Hardhat 2 in-process chain (cancun), solc 0.8 optimizer 200 runs. \`npm run bench:gas\`.`,
  '',
  '## Happy path: a contributor claims',
  '',
  'Settlement is optimistic: a round closes with the Merkle root of its (index, contributor, amount, commitment) leaves,',
  'and after the challenge window each contributor claims its leaves, any number of rounds in one call and one token',
  "transfer; no proof is verified on this path, so the model's size (chunks) does not enter. The contributor has",
  'received tokens before (its balance slot exists: a first receipt ever costs 20k more, once). A claim reads the',
  "task's first slot, the round's root and its head word (what is left to pay, when claims open, the marks of its",
  'first 60 leaves); a leaf further down a large round also writes its own word of marks (5k more) and carries a',
  'longer Merkle proof.',
  '',
  '| chunks per update | rounds claimed | contributors per round | claim transaction | per round |',
  '|---:|---:|---:|---:|---:|',
  ...claimRows.map((r) => `| ${r.chunks} | ${r.rounds} | ${r.contributors} | ${r.claimGas} | ${r.perRound} |`),
  '',
  `**${oneRound.claimGas} gas** to claim one round (target ≤ 60,000) and **${tenRounds.perRound} gas per round** claiming 10 rounds`,
  'in one call (target ≤ 30,000), the same for 1 and 15 chunks.',
  '',
  '## The coordinator, per round',
  '',
  '| contributors | openRound | closeRound |',
  '|---:|---:|---:|',
  ...roundRows.map((r) => `| ${r.contributors} | ${r.open} | ${r.close} |`),
  '',
  "closeRound writes the round's head word and pre-warms one word of claim marks per further 127 contributors, so",
  'each claim then changes a nonzero word (5k) instead of creating one (22k). It also adds its total to what the',
  "task's rounds have allotted (kept in the slot the coordinator is read from, ~3.8k): rounds 1..r post at most r pools.",
  '',
  '## A stake per key (`rewards.stake`), per contributor and task',
  '',
  '| stake (lock) | unstake (take back) |',
  '|---:|---:|',
  `| ${stakeGas.stake} | ${stakeGas.unstake} |`,
  '',
  'Paid once per task whatever its rounds, on top of the claims above.',
  '',
  '## Disputes',
  '',
  '| chunks | challenge | answer (every chunk proof verified on-chain) |',
  '|---:|---:|---:|',
  ...disputeRows.map((r) => `| ${r.chunks} | ${r.challenge} | ${r.answer} |`),
  '',
  `Each further chunk adds ~${perChunk} gas to an answer (one Groth16 verification).`,
  '',
  '## Scoring (coordinator, per round)',
  '',
  'Shapley values on 500 evaluation examples (ml/scoring.ts: exact up to 6 updates, GTG-Shapley above); synthetic',
  'updates of different quality, one of them zero.',
  '',
  '| model | parameters | updates | method | coalitions evaluated | seconds |',
  '|---|---:|---:|---|---:|---:|',
  ...scoringRows.map(
    (r) => `| ${r.model} | ${r.params} | ${r.clients} | ${r.method} | ${r.evaluations} | ${r.seconds.toFixed(2)} |`,
  ),
  '',
].join('\n');
writeFileSync(
  new URL('./results/gas.json', import.meta.url),
  JSON.stringify(
    {
      machine: machine(),
      claims: claimRows,
      rounds: roundRows,
      stake: stakeGas,
      disputes: disputeRows,
      perChunk,
      scoring: scoringRows,
    },
    null,
    2,
  ) + '\n',
);
writeFileSync(new URL('./results/gas.md', import.meta.url), md);
process.stdout.write(md);
process.exit(0);
