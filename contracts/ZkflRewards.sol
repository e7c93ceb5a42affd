// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {MerkleProof} from "@openzeppelin/contracts/utils/cryptography/MerkleProof.sol";
import {ReentrancyGuardTransient} from "@openzeppelin/contracts/utils/ReentrancyGuardTransient.sol";
import {IUpdateChunkVerifier, IZkflRewards} from "./IZkflRewards.sol";

/// @title zkfl rewards
/// @notice Escrowed reward pools paid to proven, accepted contributions (see IZkflRewards for the protocol).
/// @dev Funds are conserved per task: deposited = paid + reclaimed + what the contract still holds for it, and
/// nothing leaves except a contributor's share (claim) or, after the deadline, the unpaid rest to the owner (reclaim).
contract ZkflRewards is IZkflRewards, ReentrancyGuardTransient {
    using SafeERC20 for IERC20;

    /// @dev Bits of the statement signal that carry the norm bound (the circuit's BOUND_BITS).
    uint256 private constant NORM_BOUND_BITS = 48;
    uint256 private constant MAX_NORM_BOUND = (1 << NORM_BOUND_BITS) - 1;
    /// @dev Chunk scales 2^f range over f in [0, MAX_FRACTION_BITS] (circuits/codec.ts).
    uint256 private constant MAX_FRACTION_BITS = 63;

    /// @dev Contribution marks: 127 leaves per word, two bits each (recorded, claimed). Bit 255 is set when the round
    /// closes, so that recording and claiming change a nonzero word (5k gas) instead of creating one (22k): the
    /// coordinator pays one word per 127 contributors, each contributor saves 17k.
    uint256 private constant LEAVES_PER_WORD = 127;
    uint256 private constant WORD_IN_USE = 1 << 255;

    /// @dev Ordered so that a submission reads two slots of it: verifier, deadline, chunks; clipSquareX96.
    struct Task {
        IUpdateChunkVerifier verifier;
        uint32 deadline;
        uint16 chunks;
        uint128 clipSquareX96;
        uint32 rounds;
        uint32 roundsOpened;
        bool reclaimed;
        address owner;
        address coordinator;
        IERC20 token;
        uint256 rewardPerRound;
        uint256 paid;
    }

    struct Round {
        bytes32 modelHash;
        bytes32 acceptedRoot;
        uint128 share;
        uint64 acceptedCount;
        bool closed;
    }

    /// @notice Every task, by sha256 of its coordinator task id.
    mapping(bytes32 taskKey => Task) public tasks;
    /// @notice Every round of every task.
    mapping(bytes32 taskKey => mapping(uint256 round => Round)) public rounds;
    mapping(bytes32 taskKey => mapping(uint256 round => mapping(uint256 word => uint256 marks))) private marks;

    /// @inheritdoc IZkflRewards
    function createTask(bytes32 taskKey, TaskParams calldata params) external nonReentrant {
        if (address(tasks[taskKey].verifier) != address(0)) revert Rewards__TaskExists();
        if (params.rounds == 0 || params.chunks == 0) revert Rewards__InvalidParameters("no rounds or no chunks");
        if (params.rewardPerRound == 0) revert Rewards__InvalidParameters("no reward");
        // A round's share is stored in 128 bits.
        if (params.rewardPerRound > type(uint128).max) revert Rewards__InvalidParameters("reward per round too large");
        if (params.deadline <= block.timestamp) revert Rewards__InvalidParameters("deadline passed");
        if (
            params.coordinator == address(0) ||
            address(params.token) == address(0) ||
            address(params.verifier) == address(0)
        ) revert Rewards__InvalidParameters("zero address");
        uint256 deposit = params.rewardPerRound * params.rounds;
        tasks[taskKey] = Task({
            verifier: params.verifier,
            clipSquareX96: params.clipSquareX96,
            deadline: params.deadline,
            chunks: params.chunks,
            owner: msg.sender,
            rounds: params.rounds,
            roundsOpened: 0,
            reclaimed: false,
            coordinator: params.coordinator,
            token: params.token,
            rewardPerRound: params.rewardPerRound,
            paid: 0
        });
        // A token that delivers less than it was asked to (fee on transfer) would break conservation.
        uint256 before = params.token.balanceOf(address(this));
        params.token.safeTransferFrom(msg.sender, address(this), deposit);
        if (params.token.balanceOf(address(this)) - before != deposit) {
            revert Rewards__InvalidParameters("token delivered less than the deposit");
        }
        emit TaskCreated(taskKey, msg.sender, params, deposit);
    }

    /// @inheritdoc IZkflRewards
    function openRound(bytes32 taskKey, uint256 round, bytes32 modelHash) external {
        Task storage task = coordinatedTask(taskKey);
        if (round <= task.roundsOpened) revert Rewards__RoundAlreadyOpen(round);
        if (round != uint256(task.roundsOpened) + 1 || round > task.rounds) revert Rewards__RoundOutOfRange(round);
        if (round > 1 && !rounds[taskKey][round - 1].closed) revert Rewards__PreviousRoundOpen(round - 1);
        task.roundsOpened = uint32(round);
        rounds[taskKey][round].modelHash = modelHash;
        emit RoundOpened(taskKey, round, modelHash);
    }

    /// @inheritdoc IZkflRewards
    function closeRound(bytes32 taskKey, uint256 round, bytes32 acceptedRoot, uint256 acceptedCount) external {
        Task storage task = coordinatedTask(taskKey);
        if (round == 0 || round > task.roundsOpened) revert Rewards__RoundNotOpen(round);
        Round storage closing = rounds[taskKey][round];
        if (closing.closed) revert Rewards__RoundAlreadyClosed(round);
        if ((acceptedCount == 0) != (acceptedRoot == bytes32(0))) {
            revert Rewards__InvalidParameters("accepted root and count disagree");
        }
        if (acceptedCount > type(uint64).max) revert Rewards__InvalidParameters("accepted count too large");
        // Rounding dust (rewardPerRound mod acceptedCount) and empty rounds stay in the pool for reclaim.
        uint256 share = acceptedCount == 0 ? 0 : task.rewardPerRound / acceptedCount;
        closing.acceptedRoot = acceptedRoot;
        closing.acceptedCount = uint64(acceptedCount);
        closing.share = uint128(share);
        closing.closed = true;
        mapping(uint256 => uint256) storage roundMarks = marks[taskKey][round];
        for (uint256 word = 0; word * LEAVES_PER_WORD < acceptedCount; ++word) roundMarks[word] = WORD_IN_USE;
        emit RoundClosed(taskKey, round, acceptedRoot, acceptedCount, share);
    }

    /// @inheritdoc IZkflRewards
    function submitContribution(
        bytes32 taskKey,
        uint256 round,
        uint256 index,
        address contributor,
        ChunkProof[] calldata proofs,
        bytes32[] calldata acceptedProof
    ) external {
        Task storage task = liveTask(taskKey);
        Round storage submitted = rounds[taskKey][round];
        if (!submitted.closed) revert Rewards__RoundNotClosed(round);
        if (proofs.length != task.chunks) revert Rewards__WrongChunkCount(proofs.length, task.chunks);
        uint256[] memory commitments = new uint256[](proofs.length);
        for (uint256 k = 0; k < proofs.length; ++k) {
            // The statement is built here, from this contract's state and `contributor`; the one in calldata only
            // lets a mismatch (another task, round, H_r, address or chunk) be named apart from a broken proof.
            uint256 expected = statementSignal(
                taskKey,
                round,
                submitted.modelHash,
                contributor,
                k,
                proofs[k].fractionBits,
                task.clipSquareX96
            );
            commitments[k] = verifiedCommitment(task.verifier, proofs[k], expected, k);
        }
        bytes32 updateCommitment = keccak256(abi.encodePacked(commitments));
        if (index >= submitted.acceptedCount || !isAccepted(submitted, index, contributor, updateCommitment, acceptedProof))
            revert Rewards__NotAccepted();
        if (!setMark(marks[taskKey][round], index, 0)) revert Rewards__AlreadySubmitted();
        emit ContributionRecorded(taskKey, round, contributor, updateCommitment, msg.sender);
    }

    /// @inheritdoc IZkflRewards
    function claim(
        bytes32 taskKey,
        uint256 round,
        uint256 index,
        bytes32 updateCommitment,
        bytes32[] calldata acceptedProof
    ) external nonReentrant {
        Task storage task = liveTask(taskKey);
        Round storage claimed = rounds[taskKey][round];
        mapping(uint256 => uint256) storage roundMarks = marks[taskKey][round];
        // Only the address in the leaf can claim it, and only once its contribution was recorded.
        if (
            !isAccepted(claimed, index, msg.sender, updateCommitment, acceptedProof) ||
            !hasMark(roundMarks, index, 0)
        ) revert Rewards__NotContributor();
        if (!setMark(roundMarks, index, 1)) revert Rewards__AlreadyClaimed();
        uint256 share = claimed.share;
        task.paid += share;
        task.token.safeTransfer(msg.sender, share);
        emit RewardClaimed(taskKey, round, msg.sender, share);
    }

    /// @notice What became of a leaf of a round's accepted set.
    /// @param taskKey The task.
    /// @param round The round.
    /// @param index The leaf.
    /// @return recorded Whether its contribution was recorded.
    /// @return claimed Whether its share was paid.
    function contributionOf(
        bytes32 taskKey,
        uint256 round,
        uint256 index
    ) external view returns (bool recorded, bool claimed) {
        mapping(uint256 => uint256) storage roundMarks = marks[taskKey][round];
        return (hasMark(roundMarks, index, 0), hasMark(roundMarks, index, 1));
    }

    /// @inheritdoc IZkflRewards
    function reclaim(bytes32 taskKey) external nonReentrant {
        Task storage task = tasks[taskKey];
        if (address(task.verifier) == address(0)) revert Rewards__UnknownTask();
        if (msg.sender != task.owner) revert Rewards__NotOwner();
        if (block.timestamp <= task.deadline) revert Rewards__TaskNotEnded();
        if (task.reclaimed) revert Rewards__AlreadyReclaimed();
        task.reclaimed = true;
        uint256 amount = task.rewardPerRound * task.rounds - task.paid;
        task.token.safeTransfer(msg.sender, amount);
        emit Reclaimed(taskKey, msg.sender, amount);
    }

    /// @inheritdoc IZkflRewards
    function statementOf(
        bytes32 taskKey,
        uint256 round,
        address contributor,
        uint256 chunkIndex,
        uint256 fractionBits
    ) external view returns (uint256) {
        return
            statementSignal(
                taskKey,
                round,
                rounds[taskKey][round].modelHash,
                contributor,
                chunkIndex,
                fractionBits,
                tasks[taskKey].clipSquareX96
            );
    }

    /// @dev The circuit's public statement: the top 200 bits of the binding hash above the chunk's 48-bit norm bound,
    /// floor(tau_k^2 * 4^f) from the task's floor(tau_k^2 * 2^96), capped at 48 bits (circuits/statement.ts).
    function statementSignal(
        bytes32 taskKey,
        uint256 round,
        bytes32 modelHash,
        address contributor,
        uint256 chunkIndex,
        uint256 fractionBits,
        uint256 clipSquareX96
    ) private pure returns (uint256) {
        if (fractionBits > MAX_FRACTION_BITS) revert Rewards__StatementMismatch(chunkIndex);
        uint256 normBound = (clipSquareX96 << (2 * fractionBits)) >> 96;
        if (normBound > MAX_NORM_BOUND) normBound = MAX_NORM_BOUND;
        bytes32 tag = keccak256(abi.encode(taskKey, round, modelHash, contributor, chunkIndex, fractionBits));
        return ((uint256(tag) >> 56) << NORM_BOUND_BITS) | normBound;
    }

    /// @dev The chunk's commitment, if its proof verifies with `expected` as its statement.
    function verifiedCommitment(
        IUpdateChunkVerifier verifier,
        ChunkProof calldata chunk,
        uint256 expected,
        uint256 k
    ) private view returns (uint256) {
        if (chunk.statement != expected) revert Rewards__StatementMismatch(k);
        if (!verifier.verifyProof(chunk.a, chunk.b, chunk.c, [chunk.commitment, expected])) {
            revert Rewards__InvalidProof(k);
        }
        return chunk.commitment;
    }

    /// @dev Whether (index, contributor, updateCommitment) is a leaf of the round's accepted set.
    function isAccepted(
        Round storage round,
        uint256 index,
        address contributor,
        bytes32 updateCommitment,
        bytes32[] calldata acceptedProof
    ) private view returns (bool) {
        bytes32 leaf = keccak256(bytes.concat(keccak256(abi.encode(index, contributor, updateCommitment))));
        return MerkleProof.verifyCalldata(acceptedProof, round.acceptedRoot, leaf);
    }

    function hasMark(mapping(uint256 => uint256) storage roundMarks, uint256 index, uint256 which) private view returns (bool) {
        return roundMarks[index / LEAVES_PER_WORD] & (1 << (2 * (index % LEAVES_PER_WORD) + which)) != 0;
    }

    /// @dev Sets mark `which` (0 recorded, 1 claimed) of leaf `index`; false if it was already set.
    function setMark(mapping(uint256 => uint256) storage roundMarks, uint256 index, uint256 which) private returns (bool) {
        uint256 word = index / LEAVES_PER_WORD;
        uint256 bit = 1 << (2 * (index % LEAVES_PER_WORD) + which);
        uint256 current = roundMarks[word];
        if (current & bit != 0) return false;
        roundMarks[word] = current | bit;
        return true;
    }

    /// @dev The task, if it exists and has not ended.
    function liveTask(bytes32 taskKey) private view returns (Task storage task) {
        task = tasks[taskKey];
        if (address(task.verifier) == address(0)) revert Rewards__UnknownTask();
        if (block.timestamp > task.deadline) revert Rewards__TaskEnded();
    }

    /// @dev The live task, if the caller is its coordinator.
    function coordinatedTask(bytes32 taskKey) private view returns (Task storage task) {
        task = liveTask(taskKey);
        if (msg.sender != task.coordinator) revert Rewards__NotCoordinator();
    }
}
