// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {ECDSA} from "@openzeppelin/contracts/utils/cryptography/ECDSA.sol";
import {EIP712} from "@openzeppelin/contracts/utils/cryptography/EIP712.sol";
import {MerkleProof} from "@openzeppelin/contracts/utils/cryptography/MerkleProof.sol";
import {ReentrancyGuardTransient} from "@openzeppelin/contracts/utils/ReentrancyGuardTransient.sol";
import {IUpdateChunkVerifier, IZkflRewards} from "./IZkflRewards.sol";

/// @title zkfl rewards
/// @notice Escrowed reward pools paid by contribution, settled optimistically (see IZkflRewards for the protocol).
/// @dev Funds are conserved per task. Pool: deposited = claimed + reclaimed. Bond: posted = paid to challengers and
/// omitted contributors + withdrawn. A challenger's bond is held until its challenge resolves, then returned (with the
/// coordinator's payment) or paid to the answerer. Nothing else moves tokens.
contract ZkflRewards is IZkflRewards, EIP712, ReentrancyGuardTransient {
    using SafeERC20 for IERC20;

    /// @dev Bits of the statement signal that carry the norm bound (the circuit's BOUND_BITS).
    uint256 private constant NORM_BOUND_BITS = 48;
    uint256 private constant MAX_NORM_BOUND = (1 << NORM_BOUND_BITS) - 1;
    /// @dev Chunk scales 2^f range over f in [0, MAX_FRACTION_BITS] (circuits/codec.ts).
    uint256 private constant MAX_FRACTION_BITS = 63;

    /// @dev A round's claim state lives in its `marks` words, two bits per leaf (claimed, disputed). Word 0, the head,
    /// also holds what is left to pay of the round's total and when its challenge window ends, so that a claim of one
    /// of the round's first 60 leaves reads and writes one slot besides the root; later leaves take 127 per word,
    /// bit 255 set. closeRound writes every word nonzero, so that a claim changes a word (5k gas) instead of creating
    /// one (22k): the coordinator pays one word per 127 leaves, every claimant saves 17k.
    uint256 private constant HEAD_LEAVES = 60;
    uint256 private constant LEAVES_PER_WORD = 127;
    uint256 private constant WORD_IN_USE = 1 << 255;
    uint256 private constant UNPAID_SHIFT = 120;
    uint256 private constant CLAIMABLE_AT_SHIFT = 216;
    uint256 private constant CLAIMED = 0;
    uint256 private constant DISPUTED = 1;
    /// @dev Rounds a reclaim call settles, so that a task of any length can be reclaimed within the block gas limit.
    uint256 private constant RECLAIM_BATCH = 500;
    /// @notice Chunk proofs a contribution may have: answering a challenge verifies them all in one transaction,
    /// about 268k gas for one and 203k for each more (13.1M for 64), which must fit a block (30M on mainnet, less
    /// on some chains) with room to spare. A larger model is not settled on-chain.
    uint256 public constant MAX_CHUNKS = 64;
    /// @notice The shortest claim period a task may give its contributors.
    uint256 public constant MIN_CLAIM_PERIOD = 1 hours;
    /// @notice A challenge bond's floor, per chunk the challenge makes the coordinator verify, in thousandths of a
    /// round's pool: challenging costs the challenger in proportion to what answering costs.
    uint256 public constant MIN_CHALLENGE_BOND_PER_CHUNK_PER_MILLE = 1;

    bytes32 private constant RECEIPT_TYPEHASH =
        keccak256("Receipt(bytes32 taskKey,uint256 round,address contributor,bytes32 updateCommitment)");

    /// @dev Packed so that a claim reads one slot of it (token and deadline) and writes none.
    struct Task {
        IERC20 token;
        uint32 deadline;
        uint32 challengeWindow;
        uint16 chunks;
        uint16 baseShareBps;
        uint128 rewardPerRound;
        uint32 rounds;
        uint32 roundsOpened;
        uint32 answerWindow;
        /// @dev Rounds whose unpaid rest the owner has taken back (reclaim works through them in batches).
        uint32 reclaimedThrough;
        address coordinator;
        /// @dev Sum of the closed rounds' totals: round r may post at most r pools less this (read with coordinator).
        uint96 allotted;
        IUpdateChunkVerifier verifier;
        address owner;
        bytes32 verificationKey;
        uint128 clipSquareX96;
        uint32 claimPeriod;
        uint96 stake;
        uint256 bond;
        uint256 coordinatorBond;
        uint256 challengeBond;
        uint256 openDisputes;
        /// @dev Stakes of contributors whose leaves were voided: the owner's, with what the rounds did not pay.
        uint256 forfeited;
    }

    /// @dev What a claim needs besides the root is in the round's head word of `marks`.
    struct Round {
        bytes32 acceptedRoot;
        uint96 total;
        uint64 acceptedCount;
        bool closed;
        bytes32 modelHash;
    }

    /// @notice A round, as `roundOf` shows it.
    struct RoundState {
        bytes32 modelHash;
        bytes32 acceptedRoot;
        uint256 acceptedCount;
        /// @dev Sum of the posted leaves' amounts.
        uint256 total;
        /// @dev What of the total has not been claimed.
        uint256 unpaid;
        /// @dev End of the challenge window: claims open (0 while the round is open).
        uint256 claimableAt;
        bool closed;
    }

    enum DisputeState {
        None,
        Open,
        Answered,
        Resolved
    }

    struct Challenge {
        address challenger;
        uint64 answerBy;
        DisputeState state;
        /// @dev The challenged leaf's hash, so an answer names the same leaf without a Merkle proof.
        bytes32 leaf;
        /// @dev Whose stake a voided leaf forfeits.
        address contributor;
    }

    struct Omission {
        bytes32 updateCommitment;
        uint64 answerBy;
        DisputeState state;
    }

    /// @inheritdoc IZkflRewards
    mapping(bytes32 taskKey => mapping(address contributor => uint256 amount)) public stakeOf;
    mapping(bytes32 taskKey => Task) private tasks;
    mapping(bytes32 taskKey => mapping(uint256 round => Round)) private rounds;
    /// @notice Challenges, by leaf.
    mapping(bytes32 taskKey => mapping(uint256 round => mapping(uint256 index => Challenge))) public challenges;
    /// @notice Omission claims, by contributor.
    mapping(bytes32 taskKey => mapping(uint256 round => mapping(address contributor => Omission))) public omissions;
    mapping(bytes32 taskKey => mapping(uint256 round => mapping(uint256 word => uint256 marks))) private marks;

    constructor() EIP712("zkfl", "1") {}

    /// @inheritdoc IZkflRewards
    function createTask(bytes32 taskKey, TaskParams calldata params) external nonReentrant {
        if (address(tasks[taskKey].token) != address(0)) revert Rewards__TaskExists();
        if (params.rounds == 0 || params.chunks == 0) revert Rewards__InvalidParameters("no rounds or no chunks");
        if (params.rewardPerRound == 0) revert Rewards__InvalidParameters("no reward");
        // The pool, and so every round's total and their sum, is stored in 96 bits.
        if (params.rewardPerRound * params.rounds > type(uint96).max) revert Rewards__InvalidParameters("pool too large");
        if (params.baseShareBps > 10_000) revert Rewards__InvalidParameters("base share over 100%");
        if (params.chunks > MAX_CHUNKS) revert Rewards__InvalidParameters("more chunks than an answer can verify");
        if (params.challengeWindow == 0 || params.answerWindow == 0) revert Rewards__InvalidParameters("no windows");
        if (params.claimPeriod < MIN_CLAIM_PERIOD) revert Rewards__InvalidParameters("claim period too short");
        if (block.timestamp > lastOpening(params.deadline, params.challengeWindow, params.answerWindow, params.claimPeriod))
            revert Rewards__InvalidParameters("deadline leaves no time to claim");
        if (params.challengeBond * 1000 < params.rewardPerRound * params.chunks * MIN_CHALLENGE_BOND_PER_CHUNK_PER_MILLE)
            revert Rewards__InvalidParameters("challenge bond under its floor");
        if (
            params.coordinator == address(0) ||
            address(params.token) == address(0) ||
            address(params.verifier) == address(0)
        ) revert Rewards__InvalidParameters("zero address");
        if (params.verificationKey == bytes32(0)) revert Rewards__InvalidParameters("no verification key");
        uint256 deposit = params.rewardPerRound * params.rounds;
        // Field by field: a struct literal of this size does not fit the stack.
        Task storage task = tasks[taskKey];
        task.verifier = params.verifier;
        task.verificationKey = params.verificationKey;
        task.deadline = params.deadline;
        task.challengeWindow = params.challengeWindow;
        task.chunks = params.chunks;
        task.baseShareBps = params.baseShareBps;
        task.coordinator = params.coordinator;
        task.rounds = params.rounds;
        task.answerWindow = params.answerWindow;
        task.claimPeriod = params.claimPeriod;
        task.stake = params.stake;
        task.owner = msg.sender;
        task.clipSquareX96 = params.clipSquareX96;
        task.token = params.token;
        task.rewardPerRound = uint128(params.rewardPerRound);
        task.coordinatorBond = params.coordinatorBond;
        task.challengeBond = params.challengeBond;
        pull(params.token, msg.sender, deposit);
        emit TaskCreated(taskKey, msg.sender, params, deposit);
    }

    /// @inheritdoc IZkflRewards
    function postBond(bytes32 taskKey, uint256 amount) external nonReentrant {
        Task storage task = coordinatedTask(taskKey);
        task.bond += amount;
        pull(task.token, msg.sender, amount);
        emit BondPosted(taskKey, amount, task.bond);
    }

    /// @inheritdoc IZkflRewards
    function openRound(bytes32 taskKey, uint256 round, bytes32 modelHash) external {
        Task storage task = coordinatedTask(taskKey);
        if (task.bond < task.coordinatorBond) revert Rewards__BondMissing(task.bond, task.coordinatorBond);
        if (round <= task.roundsOpened) revert Rewards__RoundAlreadyOpen(round);
        if (round != uint256(task.roundsOpened) + 1 || round > task.rounds) revert Rewards__RoundOutOfRange(round);
        if (round > 1 && !rounds[taskKey][round - 1].closed) revert Rewards__PreviousRoundOpen(round - 1);
        uint256 last = lastOpening(task.deadline, task.challengeWindow, task.answerWindow, task.claimPeriod);
        if (block.timestamp > last) revert Rewards__TooLate(last);
        task.roundsOpened = uint32(round);
        rounds[taskKey][round].modelHash = modelHash;
        emit RoundOpened(taskKey, round, modelHash);
    }

    /// @inheritdoc IZkflRewards
    function closeRound(
        bytes32 taskKey,
        uint256 round,
        bytes32 acceptedRoot,
        uint256 acceptedCount,
        uint256 total
    ) external {
        Task storage task = coordinatedTask(taskKey);
        if (round == 0 || round > task.roundsOpened) revert Rewards__RoundNotOpen(round);
        Round storage closing = rounds[taskKey][round];
        if (closing.closed) revert Rewards__RoundAlreadyClosed(round);
        if ((acceptedCount == 0) != (acceptedRoot == bytes32(0))) {
            revert Rewards__InvalidParameters("accepted root and count disagree");
        }
        if (acceptedCount > type(uint64).max) revert Rewards__InvalidParameters("accepted count too large");
        // The coordinator splits the pool; it can never hand out more than it. A round may pay what earlier rounds
        // left unallotted (a task whose rule carries value forward), never a later round's pool.
        uint256 unallotted = task.rewardPerRound * round - task.allotted;
        if (total > unallotted) revert Rewards__OverPool(total, unallotted);
        task.allotted += uint96(total);
        uint256 claimableAt = block.timestamp + task.challengeWindow;
        closing.acceptedRoot = acceptedRoot;
        closing.acceptedCount = uint64(acceptedCount);
        closing.total = uint96(total);
        closing.closed = true;
        mapping(uint256 => uint256) storage roundMarks = marks[taskKey][round];
        // claimableAt > 0, so the head is never zero.
        roundMarks[0] = (claimableAt << CLAIMABLE_AT_SHIFT) | (total << UNPAID_SHIFT);
        for (uint256 word = 1; HEAD_LEAVES + (word - 1) * LEAVES_PER_WORD < acceptedCount; ++word) {
            roundMarks[word] = WORD_IN_USE;
        }
        emit RoundClosed(taskKey, round, acceptedRoot, acceptedCount, total, claimableAt);
    }

    /// @inheritdoc IZkflRewards
    function claim(bytes32 taskKey, Claim[] calldata claims) external nonReentrant {
        Task storage task = liveTask(taskKey);
        uint256 paid;
        for (uint256 i = 0; i < claims.length; ++i) paid += claimLeaf(taskKey, claims[i]);
        task.token.safeTransfer(msg.sender, paid);
    }

    /// @dev Marks one of the caller's leaves claimed and returns its amount, if it may be paid.
    function claimLeaf(bytes32 taskKey, Claim calldata item) private returns (uint256) {
        mapping(uint256 => uint256) storage roundMarks = marks[taskKey][item.round];
        uint256 head = roundMarks[0];
        uint256 claimableAt = head >> CLAIMABLE_AT_SHIFT;
        if (claimableAt == 0) revert Rewards__RoundNotClosed(item.round);
        if (block.timestamp < claimableAt) revert Rewards__ChallengeWindowOpen(item.round, claimableAt);
        bytes32 leaf = leafHash(item.index, msg.sender, item.amount, item.updateCommitment);
        if (!MerkleProof.verifyCalldata(item.proof, rounds[taskKey][item.round].acceptedRoot, leaf)) {
            revert Rewards__NotInSet();
        }
        (uint256 at, uint256 shift) = markPosition(item.index);
        uint256 word = at == 0 ? head : roundMarks[at];
        if (word & (1 << (shift + CLAIMED)) != 0) revert Rewards__AlreadyClaimed(item.round, item.index);
        if (word & (1 << (shift + DISPUTED)) != 0) {
            // Only a challenge answered in time leaves the leaf payable.
            DisputeState state = challenges[taskKey][item.round][item.index].state;
            if (state == DisputeState.Resolved) revert Rewards__Voided(item.round, item.index);
            if (state == DisputeState.Open) revert Rewards__Disputed(item.round, item.index);
        }
        word |= 1 << (shift + CLAIMED);
        if (at == 0) head = word;
        else roundMarks[at] = word;
        // The posted total caps the round: leaves whose amounts add up to more cannot all be paid.
        if (item.amount > uint96(head >> UNPAID_SHIFT)) revert Rewards__OverRoundTotal(item.round);
        roundMarks[0] = head - (item.amount << UNPAID_SHIFT);
        emit RewardClaimed(taskKey, item.round, msg.sender, item.amount);
        return item.amount;
    }

    /// @inheritdoc IZkflRewards
    function challenge(
        bytes32 taskKey,
        uint256 round,
        Leaf calldata leaf,
        bytes32[] calldata proof
    ) external nonReentrant {
        Task storage task = liveTask(taskKey);
        Round storage challenged = inChallengeWindow(taskKey, round);
        bytes32 hash = leafHash(leaf.index, leaf.contributor, leaf.amount, leaf.updateCommitment);
        if (!MerkleProof.verifyCalldata(proof, challenged.acceptedRoot, hash)) revert Rewards__NotInSet();
        Challenge storage record = challenges[taskKey][round][leaf.index];
        if (record.state != DisputeState.None) revert Rewards__AlreadyChallenged(round, leaf.index);
        uint256 answerBy = block.timestamp + task.answerWindow;
        challenges[taskKey][round][leaf.index] = Challenge({
            challenger: msg.sender,
            answerBy: uint64(answerBy),
            state: DisputeState.Open,
            leaf: hash,
            contributor: leaf.contributor
        });
        (uint256 at, uint256 shift) = markPosition(leaf.index);
        marks[taskKey][round][at] |= 1 << (shift + DISPUTED);
        ++task.openDisputes;
        pull(task.token, msg.sender, task.challengeBond);
        emit LeafChallenged(taskKey, round, leaf.index, msg.sender, answerBy);
    }

    /// @inheritdoc IZkflRewards
    function answerChallenge(
        bytes32 taskKey,
        uint256 round,
        Leaf calldata leaf,
        ChunkProof[] calldata proofs
    ) external nonReentrant {
        Task storage task = tasks[taskKey];
        Challenge storage record = challenges[taskKey][round][leaf.index];
        if (record.state != DisputeState.Open) revert Rewards__NotChallenged(round, leaf.index);
        if (block.timestamp > record.answerBy) revert Rewards__AnswerWindowClosed(record.answerBy);
        if (record.leaf != leafHash(leaf.index, leaf.contributor, leaf.amount, leaf.updateCommitment)) {
            revert Rewards__NotInSet();
        }
        if (provenCommitment(taskKey, round, leaf.contributor, proofs) != leaf.updateCommitment) {
            revert Rewards__CommitmentMismatch();
        }
        record.state = DisputeState.Answered;
        --task.openDisputes;
        task.token.safeTransfer(msg.sender, task.challengeBond);
        emit ChallengeAnswered(taskKey, round, leaf.index, msg.sender);
    }

    /// @inheritdoc IZkflRewards
    function resolveChallenge(bytes32 taskKey, uint256 round, uint256 index) external nonReentrant {
        Task storage task = tasks[taskKey];
        Challenge storage record = challenges[taskKey][round][index];
        if (record.state != DisputeState.Open) revert Rewards__NotChallenged(round, index);
        if (block.timestamp <= record.answerBy) revert Rewards__AnswerWindowOpen(record.answerBy);
        record.state = DisputeState.Resolved;
        --task.openDisputes;
        uint256 fromBond = slashBond(task, task.challengeBond);
        uint256 paid = task.challengeBond + fromBond;
        uint256 forfeited = stakeOf[taskKey][record.contributor];
        if (forfeited != 0) {
            stakeOf[taskKey][record.contributor] = 0;
            task.forfeited += forfeited;
            emit StakeForfeited(taskKey, record.contributor, forfeited);
        }
        task.token.safeTransfer(record.challenger, paid);
        emit LeafVoided(taskKey, round, index, record.challenger, paid);
    }

    /// @inheritdoc IZkflRewards
    function stake(bytes32 taskKey) external nonReentrant {
        Task storage task = liveTask(taskKey);
        if (task.stake == 0) revert Rewards__NoStake();
        if (stakeOf[taskKey][msg.sender] != 0) revert Rewards__AlreadyStaked();
        stakeOf[taskKey][msg.sender] = task.stake;
        pull(task.token, msg.sender, task.stake);
        emit Staked(taskKey, msg.sender, task.stake);
    }

    /// @inheritdoc IZkflRewards
    function unstake(bytes32 taskKey) external nonReentrant {
        Task storage task = tasks[taskKey];
        uint256 amount = stakeOf[taskKey][msg.sender];
        if (amount == 0) revert Rewards__NotStaked();
        if (block.timestamp <= task.deadline && !challengesOver(taskKey, task)) revert Rewards__StakeLocked();
        if (task.openDisputes != 0) revert Rewards__DisputesOpen(task.openDisputes);
        stakeOf[taskKey][msg.sender] = 0;
        task.token.safeTransfer(msg.sender, amount);
        emit Unstaked(taskKey, msg.sender, amount);
    }

    /// @inheritdoc IZkflRewards
    function claimOmission(
        bytes32 taskKey,
        uint256 round,
        bytes32 updateCommitment,
        bytes calldata signature
    ) external {
        Task storage task = liveTask(taskKey);
        inChallengeWindow(taskKey, round);
        bytes32 digest = _hashTypedDataV4(
            keccak256(abi.encode(RECEIPT_TYPEHASH, taskKey, round, msg.sender, updateCommitment))
        );
        (address signer, ECDSA.RecoverError error, ) = ECDSA.tryRecover(digest, signature);
        if (error != ECDSA.RecoverError.NoError || signer != task.coordinator) revert Rewards__InvalidReceipt();
        Omission storage record = omissions[taskKey][round][msg.sender];
        if (record.state != DisputeState.None) revert Rewards__OmissionAlreadyClaimed(round);
        uint256 answerBy = block.timestamp + task.answerWindow;
        omissions[taskKey][round][msg.sender] = Omission({
            updateCommitment: updateCommitment,
            answerBy: uint64(answerBy),
            state: DisputeState.Open
        });
        ++task.openDisputes;
        emit OmissionClaimed(taskKey, round, msg.sender, updateCommitment, answerBy);
    }

    /// @inheritdoc IZkflRewards
    function showLeaf(bytes32 taskKey, uint256 round, Leaf calldata leaf, bytes32[] calldata proof) external {
        Task storage task = tasks[taskKey];
        Omission storage record = omissions[taskKey][round][leaf.contributor];
        if (record.state != DisputeState.Open) revert Rewards__NoOmissionClaim(round, leaf.contributor);
        if (leaf.updateCommitment != record.updateCommitment) revert Rewards__CommitmentMismatch();
        bytes32 hash = leafHash(leaf.index, leaf.contributor, leaf.amount, leaf.updateCommitment);
        if (!MerkleProof.verifyCalldata(proof, rounds[taskKey][round].acceptedRoot, hash)) revert Rewards__NotInSet();
        record.state = DisputeState.Answered;
        --task.openDisputes;
        emit OmissionDismissed(taskKey, round, leaf.contributor);
    }

    /// @inheritdoc IZkflRewards
    function resolveOmission(bytes32 taskKey, uint256 round, address contributor) external nonReentrant {
        Task storage task = tasks[taskKey];
        Omission storage record = omissions[taskKey][round][contributor];
        if (record.state != DisputeState.Open) revert Rewards__NoOmissionClaim(round, contributor);
        if (block.timestamp <= record.answerBy) revert Rewards__AnswerWindowOpen(record.answerBy);
        record.state = DisputeState.Resolved;
        --task.openDisputes;
        Round storage omitted = rounds[taskKey][round];
        uint256 count = omitted.acceptedCount;
        uint256 mean = count == 0 ? 0 : omitted.total / count;
        uint256 floor = task.rewardPerRound / (count + 1);
        uint256 paid = slashBond(task, mean > floor ? mean : floor);
        task.token.safeTransfer(contributor, paid);
        emit OmissionCompensated(taskKey, round, contributor, paid);
    }

    /// @inheritdoc IZkflRewards
    function reclaim(bytes32 taskKey) external nonReentrant {
        Task storage task = endedTask(taskKey);
        if (msg.sender != task.owner) revert Rewards__NotOwner();
        // Forfeited stakes first: a challenge resolved after the last batch still forfeits to the owner.
        uint256 amount = task.forfeited;
        task.forfeited = 0;
        uint256 from = uint256(task.reclaimedThrough) + 1;
        if (from > task.rounds && amount == 0) revert Rewards__AlreadyReclaimed();
        // What no round allotted, then what each closed round allotted and was not claimed.
        if (from == 1) amount += task.rewardPerRound * task.rounds - task.allotted;
        uint256 through = from + RECLAIM_BATCH - 1;
        if (through > task.rounds) through = task.rounds;
        task.reclaimedThrough = uint32(through);
        for (uint256 round = from; round <= through; ++round) {
            uint256 head = marks[taskKey][round][0];
            amount += uint96(head >> UNPAID_SHIFT);
        }
        task.token.safeTransfer(msg.sender, amount);
        emit Reclaimed(taskKey, msg.sender, amount);
    }

    /// @inheritdoc IZkflRewards
    function withdrawBond(bytes32 taskKey) external nonReentrant {
        Task storage task = endedTask(taskKey);
        if (msg.sender != task.coordinator) revert Rewards__NotCoordinator();
        if (task.openDisputes != 0) revert Rewards__DisputesOpen(task.openDisputes);
        uint256 amount = task.bond;
        task.bond = 0;
        task.token.safeTransfer(msg.sender, amount);
        emit BondWithdrawn(taskKey, amount);
    }

    /// @dev The latest a round may open and still leave its contributors the claim period before the deadline.
    function lastOpening(
        uint256 deadline,
        uint256 challengeWindow,
        uint256 answerWindow,
        uint256 claimPeriod
    ) private pure returns (uint256) {
        uint256 needed = challengeWindow + answerWindow + claimPeriod;
        return deadline > needed ? deadline - needed : 0;
    }

    /// @notice A task, by sha256 of its coordinator task id (all zero when there is none).
    /// @param taskKey The task.
    /// @return The task's terms and state.
    function taskOf(bytes32 taskKey) external view returns (Task memory) {
        return tasks[taskKey];
    }

    /// @notice What became of a leaf: claimed, and the state of any challenge against it.
    /// @param taskKey The task.
    /// @param round The round.
    /// @param index The leaf.
    /// @return claimed Whether its amount was paid.
    /// @return challenge 0 none, 1 open, 2 answered, 3 voided.
    function leafStatus(
        bytes32 taskKey,
        uint256 round,
        uint256 index
    ) external view returns (bool claimed, uint8 challenge) {
        (uint256 at, uint256 shift) = markPosition(index);
        claimed = marks[taskKey][round][at] & (1 << (shift + CLAIMED)) != 0;
        challenge = uint8(challenges[taskKey][round][index].state);
    }

    /// @notice A round of a task.
    /// @param taskKey The task.
    /// @param round The round.
    /// @return state Its model, accepted set, what is left to pay and when claims open.
    function roundOf(bytes32 taskKey, uint256 round) external view returns (RoundState memory state) {
        Round storage stored = rounds[taskKey][round];
        uint256 head = marks[taskKey][round][0];
        state = RoundState({
            modelHash: stored.modelHash,
            acceptedRoot: stored.acceptedRoot,
            acceptedCount: stored.acceptedCount,
            total: stored.total,
            unpaid: uint96(head >> UNPAID_SHIFT),
            claimableAt: head >> CLAIMABLE_AT_SHIFT,
            closed: stored.closed
        });
    }

    /// @inheritdoc IZkflRewards
    function statementOf(
        bytes32 taskKey,
        uint256 round,
        address contributor,
        uint256 chunkIndex,
        uint256 fractionBits
    ) external view returns (uint256) {
        Task storage task = tasks[taskKey];
        return
            statementSignal(
                task.verificationKey,
                taskKey,
                round,
                rounds[taskKey][round].modelHash,
                contributor,
                chunkIndex,
                fractionBits,
                task.clipSquareX96
            );
    }

    /// @notice The EIP-712 domain separator receipts are signed under (name "zkfl", version "1", this chain and
    /// contract).
    /// @return The separator.
    function domainSeparator() external view returns (bytes32) {
        return _domainSeparatorV4();
    }

    /// @dev The circuit's public statement: the top 200 bits of the binding hash, which names the task's verification
    /// key, above the chunk's 48-bit norm bound, floor(tau_k^2 * 4^f) from the task's floor(tau_k^2 * 2^96), capped
    /// at 48 bits (circuits/statement.ts).
    function statementSignal(
        bytes32 verificationKey,
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
        bytes32 tag = keccak256(
            abi.encode(verificationKey, taskKey, round, modelHash, contributor, chunkIndex, fractionBits)
        );
        return ((uint256(tag) >> 56) << NORM_BOUND_BITS) | normBound;
    }

    /// @dev keccak256 of the chunk commitments, if every chunk proof verifies against the statement this contract
    /// builds from its own state for `contributor` (and the scale the proof declares).
    function provenCommitment(
        bytes32 taskKey,
        uint256 round,
        address contributor,
        ChunkProof[] calldata proofs
    ) private view returns (bytes32) {
        Task storage task = tasks[taskKey];
        if (proofs.length != task.chunks) revert Rewards__WrongChunkCount(proofs.length, task.chunks);
        bytes32 modelHash = rounds[taskKey][round].modelHash;
        uint256[] memory commitments = new uint256[](proofs.length);
        for (uint256 k = 0; k < proofs.length; ++k) {
            // The statement in calldata only lets a mismatch (another task, round, H_r, address, chunk or scale) be
            // named apart from a broken proof.
            uint256 expected = statementSignal(
                task.verificationKey,
                taskKey,
                round,
                modelHash,
                contributor,
                k,
                proofs[k].fractionBits,
                task.clipSquareX96
            );
            commitments[k] = verifiedCommitment(task.verifier, proofs[k], expected, k);
        }
        return keccak256(abi.encodePacked(commitments));
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

    /// @dev A leaf as OpenZeppelin's StandardMerkleTree hashes it.
    function leafHash(
        uint256 index,
        address contributor,
        uint256 amount,
        bytes32 updateCommitment
    ) private pure returns (bytes32) {
        return keccak256(bytes.concat(keccak256(abi.encode(index, contributor, amount, updateCommitment))));
    }

    /// @dev Takes up to `amount` out of the coordinator's bond; what it can.
    function slashBond(Task storage task, uint256 amount) private returns (uint256) {
        uint256 taken = amount < task.bond ? amount : task.bond;
        task.bond -= taken;
        return taken;
    }

    /// @dev Takes `amount` from `from`, refusing a token that delivers less (fees on transfer break conservation).
    function pull(IERC20 token, address from, uint256 amount) private {
        uint256 before = token.balanceOf(address(this));
        token.safeTransferFrom(from, address(this), amount);
        if (token.balanceOf(address(this)) - before != amount) {
            revert Rewards__InvalidParameters("token delivered less than asked");
        }
    }

    /// @dev Whether no leaf of the task can be challenged any more: its last round closed and its window passed.
    function challengesOver(bytes32 taskKey, Task storage task) private view returns (bool) {
        uint256 last = task.rounds;
        return
            task.roundsOpened == last &&
            rounds[taskKey][last].closed &&
            block.timestamp >= marks[taskKey][last][0] >> CLAIMABLE_AT_SHIFT;
    }

    /// @dev A closed round whose challenge window is still open.
    function inChallengeWindow(bytes32 taskKey, uint256 round) private view returns (Round storage closed) {
        closed = rounds[taskKey][round];
        if (!closed.closed) revert Rewards__RoundNotClosed(round);
        if (block.timestamp >= marks[taskKey][round][0] >> CLAIMABLE_AT_SHIFT) {
            revert Rewards__ChallengeWindowClosed(round);
        }
    }

    /// @dev The marks word of a leaf and the position of its two bits in it.
    function markPosition(uint256 index) private pure returns (uint256 word, uint256 shift) {
        if (index < HEAD_LEAVES) return (0, 2 * index);
        uint256 rest = index - HEAD_LEAVES;
        return (1 + rest / LEAVES_PER_WORD, 2 * (rest % LEAVES_PER_WORD));
    }

    /// @dev The task, if it exists and has not ended.
    function liveTask(bytes32 taskKey) private view returns (Task storage task) {
        task = tasks[taskKey];
        if (address(task.token) == address(0)) revert Rewards__UnknownTask();
        if (block.timestamp > task.deadline) revert Rewards__TaskEnded();
    }

    /// @dev The task, if it exists and has ended.
    function endedTask(bytes32 taskKey) private view returns (Task storage task) {
        task = tasks[taskKey];
        if (address(task.token) == address(0)) revert Rewards__UnknownTask();
        if (block.timestamp <= task.deadline) revert Rewards__TaskNotEnded();
    }

    /// @dev The live task, if the caller is its coordinator.
    function coordinatedTask(bytes32 taskKey) private view returns (Task storage task) {
        task = liveTask(taskKey);
        if (msg.sender != task.coordinator) revert Rewards__NotCoordinator();
    }
}
