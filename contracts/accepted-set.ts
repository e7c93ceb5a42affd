/**
 * A round's accepted set: the (address, update commitment) pairs the coordinator aggregated, as an OpenZeppelin
 * StandardMerkleTree of leaves (index, address, commitment) — keccak256(keccak256(abi.encode(uint256, address,
 * bytes32))) — with addresses ascending and index their position. The coordinator posts its root on-chain; each
 * client and each verifier builds the same tree from the same pairs. Also the Solidity shape of a chunk proof.
 */
import { StandardMerkleTree } from '@openzeppelin/merkle-tree';
import { getAddress, solidityPackedKeccak256, ZeroHash } from 'ethers';
import type { ChunkProof } from '../circuits/prover.js';

export interface AcceptedPair {
  address: string;
  /** bytes32 hex: see updateCommitment. */
  commitment: string;
}

/** One commitment for a whole update: keccak256 of its chunk commitments, packed (ZkflRewards builds the same). */
export function updateCommitment(chunkCommitments: readonly string[]): string {
  return solidityPackedKeccak256(['uint256[]'], [chunkCommitments.map(BigInt)]);
}

type Leaf = [bigint, string, string];

function leaves(pairs: readonly AcceptedPair[]): Leaf[] {
  const sorted = pairs
    .map((pair) => ({ address: getAddress(pair.address), commitment: pair.commitment }))
    .sort((a, b) => (BigInt(a.address) < BigInt(b.address) ? -1 : 1));
  return sorted.map((pair, index): Leaf => [BigInt(index), pair.address, pair.commitment]);
}

function tree(pairs: readonly AcceptedPair[]): StandardMerkleTree<Leaf> {
  return StandardMerkleTree.of(leaves(pairs), ['uint256', 'address', 'bytes32']);
}

/** The root the coordinator posts; the zero hash for a round nobody was accepted in. */
export function acceptedRoot(pairs: readonly AcceptedPair[]): string {
  return pairs.length === 0 ? ZeroHash : tree(pairs).root;
}

/** A leaf's position in the accepted set and its Merkle proof. */
export interface AcceptedLeafProof {
  index: number;
  proof: string[];
}

/** The root over the updates that carry a commitment (a task without proofs has none: the zero hash). */
export function committedRoot(updates: ReadonlyArray<{ address: string; commitment: string | null }>): string {
  return acceptedRoot(updates.flatMap(({ address, commitment }) => (commitment ? [{ address, commitment }] : [])));
}

/** `address`'s leaf index and Merkle proof, or undefined when it is not in the set. */
export function acceptedProof(pairs: readonly AcceptedPair[], address: string): AcceptedLeafProof | undefined {
  if (pairs.length === 0) return undefined;
  const merkle = tree(pairs);
  for (const [position, [index, leafAddress]] of merkle.entries()) {
    if (leafAddress === getAddress(address)) return { index: Number(index), proof: merkle.getProof(position) };
  }
  return undefined;
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
