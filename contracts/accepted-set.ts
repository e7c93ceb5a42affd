/**
 * A round's accepted set: the updates the coordinator aggregated, each with what it pays, as an OpenZeppelin
 * StandardMerkleTree of leaves (index, contributor, amount, update commitment) — keccak256(keccak256(abi.encode(
 * uint256, address, uint256, bytes32))) — with contributors ascending and index their position. The coordinator posts
 * its root on-chain; each client and each verifier builds the same tree from the same entries. Also the Solidity
 * shapes of a leaf, a claim and a chunk proof.
 */
import { StandardMerkleTree } from '@openzeppelin/merkle-tree';
import { getAddress, solidityPackedKeccak256, ZeroHash } from 'ethers';
import type { ChunkProof } from '../circuits/update-prover.js';

export interface AcceptedEntry {
  address: string;
  /** bytes32 hex: see updateCommitment. */
  commitment: string;
  /** Token base units the leaf pays, decimal. */
  amount: string;
}

/** One commitment for a whole update: keccak256 of its chunk commitments, packed (ZkflRewards builds the same). */
export function updateCommitment(chunkCommitments: readonly string[]): string {
  return solidityPackedKeccak256(['uint256[]'], [chunkCommitments.map(BigInt)]);
}

type LeafValues = [bigint, string, bigint, string];

/** IZkflRewards.Leaf. */
export interface OnchainLeaf {
  index: number;
  contributor: string;
  amount: bigint;
  updateCommitment: string;
}

function leaves(entries: readonly AcceptedEntry[]): LeafValues[] {
  const sorted = entries
    .map((entry) => ({ ...entry, address: getAddress(entry.address) }))
    .sort((a, b) => (BigInt(a.address) < BigInt(b.address) ? -1 : 1));
  return sorted.map((entry, index): LeafValues => [
    BigInt(index),
    entry.address,
    BigInt(entry.amount),
    entry.commitment,
  ]);
}

function tree(entries: readonly AcceptedEntry[]): StandardMerkleTree<LeafValues> {
  return StandardMerkleTree.of(leaves(entries), ['uint256', 'address', 'uint256', 'bytes32']);
}

/** The root the coordinator posts; the zero hash for a round nobody was accepted in. */
export function acceptedRoot(entries: readonly AcceptedEntry[]): string {
  return entries.length === 0 ? ZeroHash : tree(entries).root;
}

/** The entries of the updates that carry a commitment (a task without proofs settles nothing on-chain). */
export function committedEntries(
  updates: ReadonlyArray<{ address: string; commitment: string | null; amount: string | null }>,
): AcceptedEntry[] {
  return updates.flatMap(({ address, commitment, amount }) =>
    commitment ? [{ address, commitment, amount: amount ?? '0' }] : [],
  );
}

/** The root over the updates that carry a commitment: the zero hash for a task without proofs. */
export function committedRoot(
  updates: ReadonlyArray<{ address: string; commitment: string | null; amount: string | null }>,
): string {
  return acceptedRoot(committedEntries(updates));
}

/** What the leaves of a set pay in all. */
export function acceptedTotal(entries: readonly AcceptedEntry[]): bigint {
  return entries.reduce((sum, entry) => sum + BigInt(entry.amount), 0n);
}

/** `address`'s leaf and its Merkle proof, or undefined when it is not in the set. */
export function acceptedLeaf(
  entries: readonly AcceptedEntry[],
  address: string,
): { leaf: OnchainLeaf; proof: string[] } | undefined {
  if (entries.length === 0) return undefined;
  const merkle = tree(entries);
  for (const [position, [index, contributor, amount, commitment]] of merkle.entries()) {
    if (contributor === getAddress(address)) {
      return {
        leaf: { index: Number(index), contributor, amount, updateCommitment: commitment },
        proof: merkle.getProof(position),
      };
    }
  }
  return undefined;
}

/** The leaf at `index` of a set and its Merkle proof, or undefined when there is none. */
export function acceptedLeafAt(
  entries: readonly AcceptedEntry[],
  index: number,
): { leaf: OnchainLeaf; proof: string[] } | undefined {
  const address = leaves(entries)[index]?.[1];
  return address === undefined ? undefined : acceptedLeaf(entries, address);
}

/** IZkflRewards.Claim: one round of a claim. */
export interface LeafClaim {
  round: number;
  index: number;
  amount: bigint;
  updateCommitment: string;
  proof: string[];
}

/** `address`'s claim on its leaf in round `round`'s set, as `claim` takes it, or undefined when it is not in the set. */
export function leafClaim(round: number, entries: readonly AcceptedEntry[], address: string): LeafClaim | undefined {
  const found = acceptedLeaf(entries, address);
  if (!found) return undefined;
  const { index, amount, updateCommitment } = found.leaf;
  return { round, index, amount, updateCommitment, proof: found.proof };
}

/** IZkflRewards.ChunkProof: snarkjs's proof in the verifier's calldata order (B's coordinates swapped). */
export interface SolidityChunkProof {
  a: [string, string];
  b: [[string, string], [string, string]];
  c: [string, string];
  commitment: string;
  statement: string;
  /** The chunk's scale exponent, bound into its statement. */
  fractionBits: number;
}

export function solidityChunkProof({ proof, publicSignals }: ChunkProof, fractionBits: number): SolidityChunkProof {
  const [commitment, statement] = publicSignals;
  if (commitment === undefined || statement === undefined) throw new Error('a chunk proof has two public signals');
  const pair = (values: readonly string[]): [string, string] => [values[0]!, values[1]!];
  return {
    a: pair(proof.pi_a),
    b: [
      [proof.pi_b[0]![1]!, proof.pi_b[0]![0]!],
      [proof.pi_b[1]![1]!, proof.pi_b[1]![0]!],
    ],
    c: pair(proof.pi_c),
    commitment,
    statement,
    fractionBits,
  };
}
