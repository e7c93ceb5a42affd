// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {MerkleProof} from "@openzeppelin/contracts/utils/cryptography/MerkleProof.sol";
import {ReentrancyGuardTransient} from "@openzeppelin/contracts/utils/ReentrancyGuardTransient.sol";
import {IUpdateChunkVerifier, IZkflRewards} from "./IZkflRewards.sol";

/// @title zkfl rewards (see IZkflRewards for the protocol)
/// @dev Funds are conserved per task: deposited = paid + reclaimed + what the contract still holds for it, and
/// nothing leaves except a contributor's share (claim) or, after the deadline, the unpaid rest to the owner (reclaim).
contract ZkflRewards is IZkflRewards, ReentrancyGuardTransient {
    using SafeERC20 for IERC20;

    /// @dev Bits of the statement signal that carry the norm bound (the circuit's BOUND_BITS).
    uint256 private constant NORM_BOUND_BITS = 48;

    /// @dev Packed so that a submission reads three slots of it.
    struct Task {
        address owner;
        uint32 rounds;
        uint32 chunks;
        uint32 roundsOpened;
        address coordinator;
        uint64 deadline;
        bool reclaimed;
        IUpdateChunkVerifier verifier;
        uint64 normBound;
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

    enum Contribution {
        None,
        Recorded,
        Claimed
    }

    mapping(bytes32 taskKey => Task) public tasks;
    mapping(bytes32 taskKey => mapping(uint256 round => Round)) public rounds;
    mapping(bytes32 taskKey => mapping(uint256 round => mapping(address contributor => Contribution)))
        public contributions;

    /// @inheritdoc IZkflRewards
    function createTask(bytes32 taskKey, TaskParams calldata params) external nonReentrant {
        if (tasks[taskKey].owner != address(0)) revert Rewards__TaskExists();
        if (params.rounds == 0 || params.chunks == 0) revert Rewards__InvalidParameters("no rounds or no chunks");
        if (params.rewardPerRound == 0) revert Rewards__InvalidParameters("no reward");
        if (params.normBound >> NORM_BOUND_BITS != 0) revert Rewards__InvalidParameters("norm bound over 48 bits");
        if (params.deadline <= block.timestamp) revert Rewards__InvalidParameters("deadline passed");
        if (
            params.coordinator == address(0) ||
            address(params.token) == address(0) ||
            address(params.verifier) == address(0)
        ) revert Rewards__InvalidParameters("zero address");
        uint256 deposit = params.rewardPerRound * params.rounds;
        tasks[taskKey] = Task({
            owner: msg.sender,
            rounds: params.rounds,
            chunks: params.chunks,
            roundsOpened: 0,
            coordinator: params.coordinator,
            deadline: params.deadline,
            reclaimed: false,
            verifier: params.verifier,
            normBound: params.normBound,
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
        emit RoundClosed(taskKey, round, acceptedRoot, acceptedCount, share);
    }

    /// @inheritdoc IZkflRewards
    function submitContribution(
        bytes32 taskKey,
        uint256 round,
        address contributor,
        ChunkProof[] calldata proofs,
        bytes32[] calldata acceptedProof
    ) external {
        Task storage task = liveTask(taskKey);
        Round storage submitted = rounds[taskKey][round];
        if (!submitted.closed) revert Rewards__RoundNotClosed(round);
        if (contributions[taskKey][round][contributor] != Contribution.None) revert Rewards__AlreadySubmitted();
        if (proofs.length != task.chunks) revert Rewards__WrongChunkCount(proofs.length, task.chunks);
        uint256[] memory commitments = new uint256[](proofs.length);
        for (uint256 k = 0; k < proofs.length; ++k) {
            // The statement is built here, from this contract's state and `contributor`; the one in calldata only
            // lets a mismatch (another task, round, H_r, address or chunk) be named apart from a broken proof.
            uint256 expected = statementSignal(taskKey, round, submitted.modelHash, contributor, k, task.normBound);
            commitments[k] = verifiedCommitment(task.verifier, proofs[k], expected, k);
        }
        bytes32 updateCommitment = keccak256(abi.encodePacked(commitments));
        bytes32 leaf = keccak256(bytes.concat(keccak256(abi.encode(contributor, updateCommitment))));
        if (!MerkleProof.verifyCalldata(acceptedProof, submitted.acceptedRoot, leaf)) revert Rewards__NotAccepted();
        contributions[taskKey][round][contributor] = Contribution.Recorded;
        emit ContributionRecorded(taskKey, round, contributor, updateCommitment, msg.sender);
    }

    /// @inheritdoc IZkflRewards
    function claim(bytes32 taskKey, uint256 round) external nonReentrant {
        Task storage task = liveTask(taskKey);
        mapping(address => Contribution) storage roundContributions = contributions[taskKey][round];
        Contribution status = roundContributions[msg.sender];
        if (status == Contribution.None) revert Rewards__NotContributor();
        if (status == Contribution.Claimed) revert Rewards__AlreadyClaimed();
        roundContributions[msg.sender] = Contribution.Claimed;
        uint256 share = rounds[taskKey][round].share;
        task.paid += share;
        task.token.safeTransfer(msg.sender, share);
        emit RewardClaimed(taskKey, round, msg.sender, share);
    }

    /// @inheritdoc IZkflRewards
    function reclaim(bytes32 taskKey) external nonReentrant {
        Task storage task = tasks[taskKey];
        if (task.owner == address(0)) revert Rewards__UnknownTask();
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
        uint256 chunkIndex
    ) external view returns (uint256) {
        return
            statementSignal(
                taskKey,
                round,
                rounds[taskKey][round].modelHash,
                contributor,
                chunkIndex,
                tasks[taskKey].normBound
            );
    }

    /// @dev The circuit's public statement: the top 200 bits of the binding hash above the 48-bit norm bound.
    function statementSignal(
        bytes32 taskKey,
        uint256 round,
        bytes32 modelHash,
        address contributor,
        uint256 chunkIndex,
        uint256 normBound
    ) private pure returns (uint256) {
        bytes32 tag = keccak256(abi.encode(taskKey, round, modelHash, contributor, chunkIndex));
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

    /// @dev The task, if it exists and has not ended.
    function liveTask(bytes32 taskKey) private view returns (Task storage task) {
        task = tasks[taskKey];
        if (task.owner == address(0)) revert Rewards__UnknownTask();
        if (block.timestamp > task.deadline) revert Rewards__TaskEnded();
    }

    /// @dev The live task, if the caller is its coordinator.
    function coordinatedTask(bytes32 taskKey) private view returns (Task storage task) {
        task = liveTask(taskKey);
        if (msg.sender != task.coordinator) revert Rewards__NotCoordinator();
    }
}
