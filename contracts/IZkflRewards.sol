// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";

/// @title The update-chunk circuit's Groth16 verifier
/// @notice The verifier that `zkfl setup` generates from the update-chunk circuit's final zkey.
interface IUpdateChunkVerifier {
    /// @notice Whether (a, b, c) proves the circuit for these public signals.
    /// @param a The proof's A point.
    /// @param b The proof's B point (coordinates in the verifier's order).
    /// @param c The proof's C point.
    /// @param publicSignals In circuit order: the chunk's commitment, then its statement (ZkflRewards.statementOf).
    /// @return Whether the proof verifies.
    function verifyProof(
        uint256[2] calldata a,
        uint256[2][2] calldata b,
        uint256[2] calldata c,
        uint256[2] calldata publicSignals
    ) external view returns (bool);
}

/// @title zkfl rewards: escrowed reward pools paid to contributions that are both proven and accepted
/// @notice A model owner escrows a task's reward pool. Its coordinator posts each round's global-model hash H_r when
/// the round opens and, when it closes, the Merkle root of the (index, address, commitment) leaves it aggregated
/// (index: the leaf's position, addresses ascending). Anyone may then submit a contributor's chunk proofs with a
/// Merkle proof of its leaf; the contract verifies the proofs against a statement it builds from its own state and
/// records the contribution for the address bound in the proofs, which alone can claim the round's equal share.
/// After the task's deadline the owner takes back what was not paid.
interface IZkflRewards {
    /// @notice What a model owner sets when creating a task.
    struct TaskParams {
        /// @notice The only address that may open and close rounds.
        address coordinator;
        /// @notice The ERC-20 token the reward pool is paid in.
        IERC20 token;
        /// @notice The Groth16 verifier of the task's circuit.
        IUpdateChunkVerifier verifier;
        /// @notice Number of rounds; rounds are numbered 1..rounds.
        uint32 rounds;
        /// @notice Chunk proofs per contribution: ceil(model parameters / circuit chunk size).
        uint16 chunks;
        /// @notice The chunk clip as floor(tau_k^2 * 2^96), tau_k = clipNorm / sqrt(chunks): a chunk quantized at scale
        /// 2^f is bound by sum(q^2) <= floor(tau_k^2 * 4^f), capped at 48 bits (circuits/codec.ts normBoundFor).
        uint128 clipSquareX96;
        /// @notice End of the task (unix seconds): after it nothing is opened, closed, submitted or claimed, and the
        /// owner may reclaim what was not paid.
        uint32 deadline;
        /// @notice Paid per round, split equally among the round's accepted contributors.
        uint256 rewardPerRound;
    }

    /// @notice One chunk's proof as snarkjs exports it for Solidity, with the public signals it was made for and the
    /// scale exponent f the chunk was quantized at (bound into its statement).
    struct ChunkProof {
        uint256[2] a;
        uint256[2][2] b;
        uint256[2] c;
        uint256 commitment;
        uint256 statement;
        uint8 fractionBits;
    }

    /// @notice A task was created and its reward pool escrowed.
    /// @param taskKey sha256 of the coordinator's task id.
    /// @param owner The model owner, who deposited and may reclaim.
    /// @param params The task's terms.
    /// @param deposited rewardPerRound * rounds.
    event TaskCreated(bytes32 indexed taskKey, address indexed owner, TaskParams params, uint256 deposited);
    /// @notice A round opened.
    /// @param taskKey The task.
    /// @param round The round, from 1.
    /// @param modelHash H_r: sha256 of the global weights the round trains from.
    event RoundOpened(bytes32 indexed taskKey, uint256 indexed round, bytes32 modelHash);
    /// @notice A round closed with its accepted set.
    /// @param taskKey The task.
    /// @param round The round.
    /// @param acceptedRoot Merkle root of the accepted leaves.
    /// @param acceptedCount Number of accepted contributions.
    /// @param share What each of them may claim.
    event RoundClosed(
        bytes32 indexed taskKey,
        uint256 indexed round,
        bytes32 acceptedRoot,
        uint256 acceptedCount,
        uint256 share
    );
    /// @notice A proven and accepted contribution was recorded.
    /// @param taskKey The task.
    /// @param round The round.
    /// @param contributor The address bound in the proofs, the only one that may claim.
    /// @param updateCommitment keccak256 of the chunk commitments.
    /// @param submitter Who sent the transaction (anyone).
    event ContributionRecorded(
        bytes32 indexed taskKey,
        uint256 indexed round,
        address indexed contributor,
        bytes32 updateCommitment,
        address submitter
    );
    /// @notice A contributor was paid its share.
    /// @param taskKey The task.
    /// @param round The round.
    /// @param contributor The contributor, paid.
    /// @param amount Token base units.
    event RewardClaimed(bytes32 indexed taskKey, uint256 indexed round, address indexed contributor, uint256 amount);
    /// @notice After the deadline the owner took back what was not paid.
    /// @param taskKey The task.
    /// @param owner The model owner.
    /// @param amount Unclaimed shares, empty rounds and rounding dust, in token base units.
    event Reclaimed(bytes32 indexed taskKey, address indexed owner, uint256 amount);

    error Rewards__TaskExists();
    error Rewards__UnknownTask();
    error Rewards__InvalidParameters(string reason);
    error Rewards__NotCoordinator();
    error Rewards__NotOwner();
    error Rewards__RoundOutOfRange(uint256 round);
    error Rewards__RoundAlreadyOpen(uint256 round);
    error Rewards__PreviousRoundOpen(uint256 round);
    error Rewards__RoundNotOpen(uint256 round);
    error Rewards__RoundAlreadyClosed(uint256 round);
    error Rewards__RoundNotClosed(uint256 round);
    error Rewards__TaskEnded();
    error Rewards__TaskNotEnded();
    error Rewards__WrongChunkCount(uint256 given, uint256 expected);
    error Rewards__StatementMismatch(uint256 chunk);
    error Rewards__InvalidProof(uint256 chunk);
    error Rewards__NotAccepted();
    error Rewards__AlreadySubmitted();
    error Rewards__NotContributor();
    error Rewards__AlreadyClaimed();
    error Rewards__AlreadyReclaimed();

    /// @notice Creates task `taskKey` (sha256 of the coordinator's task id) and escrows its reward pool from the
    /// caller, who becomes its owner. The caller must have approved rewardPerRound * rounds of the token.
    /// @param taskKey sha256 of the coordinator's task id.
    /// @param params The task's terms.
    function createTask(bytes32 taskKey, TaskParams calldata params) external;

    /// @notice Coordinator only: opens the next round, after the previous one closed.
    /// @param taskKey The task.
    /// @param round The round to open.
    /// @param modelHash H_r.
    function openRound(bytes32 taskKey, uint256 round, bytes32 modelHash) external;

    /// @notice Coordinator only: closes the open round with the Merkle root of its accepted (index, address,
    /// commitment) leaves (OpenZeppelin StandardMerkleTree) and their count.
    /// @param taskKey The task.
    /// @param round The open round.
    /// @param acceptedRoot The root (zero for an empty set).
    /// @param acceptedCount The number of leaves.
    function closeRound(bytes32 taskKey, uint256 round, bytes32 acceptedRoot, uint256 acceptedCount) external;

    /// @notice Records `contributor`'s contribution to a closed round. Anyone may submit it; only `contributor` can
    /// claim its share. Reverts unless every chunk proof verifies against the statement the contract builds and the
    /// (index, contributor, updateCommitment) leaf is in the round's accepted set.
    /// @param taskKey The task.
    /// @param round A closed round.
    /// @param index The contributor's leaf index in the accepted set.
    /// @param contributor The address the proofs are bound to.
    /// @param proofs One per chunk, in order.
    /// @param acceptedProof The leaf's Merkle proof.
    function submitContribution(
        bytes32 taskKey,
        uint256 round,
        uint256 index,
        address contributor,
        ChunkProof[] calldata proofs,
        bytes32[] calldata acceptedProof
    ) external;

    /// @notice Pays the caller its share of a round, once, for its recorded contribution.
    /// @param taskKey The task.
    /// @param round The round.
    /// @param index The caller's leaf index.
    /// @param updateCommitment The leaf's commitment.
    /// @param acceptedProof The leaf's Merkle proof.
    function claim(
        bytes32 taskKey,
        uint256 round,
        uint256 index,
        bytes32 updateCommitment,
        bytes32[] calldata acceptedProof
    ) external;

    /// @notice Owner only, after the deadline: takes back everything not paid.
    /// @param taskKey The task.
    function reclaim(bytes32 taskKey) external;

    /// @notice The statement signal a chunk proof must carry (circuits/statement.ts is its TypeScript twin).
    /// @param taskKey The task.
    /// @param round The round (its H_r as posted).
    /// @param contributor The contributor.
    /// @param chunkIndex The chunk.
    /// @param fractionBits The chunk's scale exponent f.
    /// @return The statement: the binding hash's top 200 bits above the chunk's 48-bit norm bound.
    function statementOf(
        bytes32 taskKey,
        uint256 round,
        address contributor,
        uint256 chunkIndex,
        uint256 fractionBits
    ) external view returns (uint256);
}
