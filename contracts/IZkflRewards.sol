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

/// @title zkfl rewards: escrowed reward pools paid by contribution, settled optimistically
/// @notice A model owner escrows a task's reward pool; its coordinator posts a bond. Each round the coordinator posts
/// the global-model hash H_r when the round opens and, when it closes, the Merkle root of its accepted leaves
/// (index, contributor, amount, update commitment) with their count and total (never more than the pools of the rounds
/// so far less what earlier rounds posted: a round may pay what an earlier one left, never a later one's pool).
/// Nothing is verified on the happy path: after a challenge window, each contributor claims what its leaves say, for
/// any number of rounds in one transaction. During the window anyone may challenge a leaf with a bond; the leaf's
/// chunk proofs must then be shown and are verified here, against statements this contract builds from its own
/// state, exactly as the coordinator verified them. A challenge answered in time costs the challenger its bond; one
/// left unanswered voids the leaf and pays the challenger from the coordinator's bond. A contributor holding the
/// coordinator's signed receipt for an update missing from the set can claim the omission; unless the coordinator
/// shows the leaf in time, its bond pays the contributor at least the round's mean amount.
interface IZkflRewards {
    /// @notice What a model owner sets when creating a task.
    struct TaskParams {
        /// @notice The only address that may open and close rounds; it must post `coordinatorBond` first.
        address coordinator;
        /// @notice The ERC-20 token of the reward pool and of both bonds.
        IERC20 token;
        /// @notice The Groth16 verifier of the task's circuit.
        IUpdateChunkVerifier verifier;
        /// @notice sha256 of the circuit's verification key: every statement names it, so a proof made with another
        /// circuit cannot stand for this task's (circuits/statement.ts).
        bytes32 verificationKey;
        /// @notice Number of rounds; rounds are numbered 1..rounds.
        uint32 rounds;
        /// @notice Chunk proofs per contribution: ceil(model parameters / circuit chunk size).
        uint16 chunks;
        /// @notice The reward rule's equal base share, in basis points of each round's pool (the rest follows
        /// contribution scores; recorded here for everyone to check the coordinator's amounts against).
        uint16 baseShareBps;
        /// @notice The chunk clip as floor(tau_k^2 * 2^96), tau_k = clipNorm / sqrt(chunks): a chunk quantized at scale
        /// 2^f is bound by sum(q^2) <= floor(tau_k^2 * 4^f), capped at 48 bits (circuits/codec.ts normBoundFor).
        uint128 clipSquareX96;
        /// @notice End of the task (unix seconds): after it nothing is opened, closed, challenged or claimed; the owner
        /// reclaims what was not paid and the coordinator what is left of its bond.
        uint32 deadline;
        /// @notice Seconds after a round closes during which its leaves can be challenged and omissions claimed;
        /// claims wait for it to pass.
        uint32 challengeWindow;
        /// @notice Seconds the coordinator (or anyone) has to answer a challenge or an omission claim.
        uint32 answerWindow;
        /// @notice Seconds holders have to claim a round once its challenge and answer windows passed, at the least:
        /// no round opens later than `deadline - challengeWindow - answerWindow - claimPeriod`. At least
        /// MIN_CLAIM_PERIOD.
        uint32 claimPeriod;
        /// @notice Tokens each contributor locks before it takes part (0: none), forfeited to the owner if one of its
        /// leaves is voided, returned once no leaf of the task can be challenged any more (or after the deadline).
        uint96 stake;
        /// @notice Escrowed per round, split among the rounds' leaves as the coordinator posts them; rounds 1..r pay at
        /// most r times this in all. The whole pool, this times `rounds`, must fit 96 bits.
        uint256 rewardPerRound;
        /// @notice Tokens the coordinator must post before round 1; unanswered challenges and omissions are paid from it.
        uint256 coordinatorBond;
        /// @notice Tokens a challenger puts up; returned with as much again from the coordinator's bond if the leaf is
        /// voided, paid to whoever answers if it is not.
        uint256 challengeBond;
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

    /// @notice A leaf of a round's accepted set: keccak256(keccak256(abi.encode(index, contributor, amount,
    /// updateCommitment))), as OpenZeppelin's StandardMerkleTree builds it.
    struct Leaf {
        uint256 index;
        address contributor;
        uint256 amount;
        /// @notice keccak256 of the update's chunk commitments.
        bytes32 updateCommitment;
    }

    /// @notice One round's claim: the caller's leaf (as `Leaf`, with the caller as contributor) and its Merkle proof.
    struct Claim {
        uint256 round;
        uint256 index;
        uint256 amount;
        bytes32 updateCommitment;
        bytes32[] proof;
    }

    /// @notice A task was created and its reward pool escrowed.
    /// @param taskKey sha256 of the coordinator's task id.
    /// @param owner The model owner, who deposited and may reclaim.
    /// @param params The task's terms.
    /// @param deposited rewardPerRound * rounds.
    event TaskCreated(bytes32 indexed taskKey, address indexed owner, TaskParams params, uint256 deposited);
    /// @notice The coordinator posted (part of) its bond.
    /// @param taskKey The task.
    /// @param amount Tokens added.
    /// @param bond The bond now held.
    event BondPosted(bytes32 indexed taskKey, uint256 amount, uint256 bond);
    /// @notice A round opened.
    /// @param taskKey The task.
    /// @param round The round, from 1.
    /// @param modelHash H_r: sha256 of the global weights the round trains from.
    event RoundOpened(bytes32 indexed taskKey, uint256 indexed round, bytes32 modelHash);
    /// @notice A round closed with its accepted set.
    /// @param taskKey The task.
    /// @param round The round.
    /// @param acceptedRoot Merkle root of the accepted leaves.
    /// @param acceptedCount Number of leaves.
    /// @param total What the leaves' amounts add up to.
    /// @param claimableAt When its challenge window ends and claims open.
    event RoundClosed(
        bytes32 indexed taskKey,
        uint256 indexed round,
        bytes32 acceptedRoot,
        uint256 acceptedCount,
        uint256 total,
        uint256 claimableAt
    );
    /// @notice A leaf was challenged: its chunk proofs must be shown by `answerBy`.
    /// @param taskKey The task.
    /// @param round The round.
    /// @param index The leaf.
    /// @param challenger Who put up the bond.
    /// @param answerBy Deadline for the answer.
    event LeafChallenged(
        bytes32 indexed taskKey,
        uint256 indexed round,
        uint256 indexed index,
        address challenger,
        uint256 answerBy
    );
    /// @notice A challenged leaf's proofs were shown and verified: the challenger's bond went to the answerer.
    /// @param taskKey The task.
    /// @param round The round.
    /// @param index The leaf.
    /// @param answerer Who showed the proofs.
    event ChallengeAnswered(bytes32 indexed taskKey, uint256 indexed round, uint256 indexed index, address answerer);
    /// @notice A challenged leaf went unanswered: it is void, and the challenger was paid from the coordinator's bond.
    /// @param taskKey The task.
    /// @param round The round.
    /// @param index The leaf.
    /// @param challenger Who challenged.
    /// @param paid Its bond back plus what the coordinator's bond paid.
    event LeafVoided(
        bytes32 indexed taskKey,
        uint256 indexed round,
        uint256 indexed index,
        address challenger,
        uint256 paid
    );
    /// @notice A contributor showed the coordinator's receipt for an update the round's set may lack.
    /// @param taskKey The task.
    /// @param round The round.
    /// @param contributor The receipt's contributor.
    /// @param updateCommitment The receipt's commitment.
    /// @param answerBy Deadline for the coordinator to show the leaf.
    event OmissionClaimed(
        bytes32 indexed taskKey,
        uint256 indexed round,
        address indexed contributor,
        bytes32 updateCommitment,
        uint256 answerBy
    );
    /// @notice The leaf an omission claim named was shown to be in the set.
    /// @param taskKey The task.
    /// @param round The round.
    /// @param contributor The contributor.
    event OmissionDismissed(bytes32 indexed taskKey, uint256 indexed round, address indexed contributor);
    /// @notice An omission went unanswered: the coordinator's bond paid the contributor.
    /// @param taskKey The task.
    /// @param round The round.
    /// @param contributor The contributor, paid.
    /// @param amount Tokens paid.
    event OmissionCompensated(
        bytes32 indexed taskKey,
        uint256 indexed round,
        address indexed contributor,
        uint256 amount
    );
    /// @notice A contributor was paid for its leaf in a round.
    /// @param taskKey The task.
    /// @param round The round.
    /// @param contributor The contributor, paid.
    /// @param amount Token base units.
    event RewardClaimed(bytes32 indexed taskKey, uint256 indexed round, address indexed contributor, uint256 amount);
    /// @notice After the deadline the owner took back what was not paid.
    /// @param taskKey The task.
    /// @param owner The model owner.
    /// @param amount Unpaid amounts, voided leaves, empty rounds and rounding, in token base units.
    event Reclaimed(bytes32 indexed taskKey, address indexed owner, uint256 amount);
    /// @notice After the deadline the coordinator took back what was left of its bond.
    /// @param taskKey The task.
    /// @param amount Tokens returned.
    event BondWithdrawn(bytes32 indexed taskKey, uint256 amount);
    /// @notice A contributor locked the task's stake.
    /// @param taskKey The task.
    /// @param contributor Its address.
    /// @param amount The stake.
    event Staked(bytes32 indexed taskKey, address indexed contributor, uint256 amount);
    /// @notice A contributor took its stake back.
    /// @param taskKey The task.
    /// @param contributor Its address.
    /// @param amount The stake.
    event Unstaked(bytes32 indexed taskKey, address indexed contributor, uint256 amount);
    /// @notice A contributor's leaf was voided: its stake goes to the owner.
    /// @param taskKey The task.
    /// @param contributor Its address.
    /// @param amount The stake.
    event StakeForfeited(bytes32 indexed taskKey, address indexed contributor, uint256 amount);

    error Rewards__TaskExists();
    error Rewards__UnknownTask();
    error Rewards__InvalidParameters(string reason);
    error Rewards__NotCoordinator();
    error Rewards__NotOwner();
    error Rewards__BondMissing(uint256 posted, uint256 required);
    error Rewards__RoundOutOfRange(uint256 round);
    error Rewards__RoundAlreadyOpen(uint256 round);
    error Rewards__PreviousRoundOpen(uint256 round);
    error Rewards__RoundNotOpen(uint256 round);
    error Rewards__RoundAlreadyClosed(uint256 round);
    error Rewards__RoundNotClosed(uint256 round);
    error Rewards__OverPool(uint256 total, uint256 pool);
    error Rewards__OverRoundTotal(uint256 round);
    error Rewards__TaskEnded();
    error Rewards__TaskNotEnded();
    error Rewards__NotInSet();
    error Rewards__ChallengeWindowOpen(uint256 round, uint256 claimableAt);
    error Rewards__ChallengeWindowClosed(uint256 round);
    error Rewards__AlreadyChallenged(uint256 round, uint256 index);
    error Rewards__NotChallenged(uint256 round, uint256 index);
    error Rewards__Disputed(uint256 round, uint256 index);
    error Rewards__Voided(uint256 round, uint256 index);
    error Rewards__AnswerWindowOpen(uint256 answerBy);
    error Rewards__AnswerWindowClosed(uint256 answerBy);
    error Rewards__WrongChunkCount(uint256 given, uint256 expected);
    error Rewards__StatementMismatch(uint256 chunk);
    error Rewards__InvalidProof(uint256 chunk);
    error Rewards__CommitmentMismatch();
    error Rewards__InvalidReceipt();
    error Rewards__AlreadyClaimed(uint256 round, uint256 index);
    error Rewards__OmissionAlreadyClaimed(uint256 round);
    error Rewards__NoOmissionClaim(uint256 round, address contributor);
    error Rewards__AlreadyReclaimed();
    error Rewards__DisputesOpen(uint256 open);
    /// @notice A round would open too late for its contributors to claim before the deadline.
    error Rewards__TooLate(uint256 lastOpening);
    error Rewards__NoStake();
    error Rewards__AlreadyStaked();
    error Rewards__NotStaked();
    error Rewards__StakeLocked();

    /// @notice Creates task `taskKey` (sha256 of the coordinator's task id) and escrows its reward pool from the
    /// caller, who becomes its owner. The caller must have approved rewardPerRound * rounds of the token.
    /// @param taskKey sha256 of the coordinator's task id.
    /// @param params The task's terms.
    function createTask(bytes32 taskKey, TaskParams calldata params) external;

    /// @notice Coordinator only: adds `amount` to its bond (approved beforehand).
    /// @param taskKey The task.
    /// @param amount Tokens to add.
    function postBond(bytes32 taskKey, uint256 amount) external;

    /// @notice Coordinator only, with its bond whole (posted, and topped up after anything was paid from it): opens
    /// the next round, after the previous one closed.
    /// @param taskKey The task.
    /// @param round The round to open.
    /// @param modelHash H_r.
    function openRound(bytes32 taskKey, uint256 round, bytes32 modelHash) external;

    /// @notice Coordinator only: closes the open round with the Merkle root of its accepted leaves (OpenZeppelin
    /// StandardMerkleTree of (uint256 index, address contributor, uint256 amount, bytes32 updateCommitment)), their
    /// count and the total of their amounts: at most the pools of rounds 1..round less the earlier rounds' totals, so a
    /// round may pay what earlier ones left unallotted. Its challenge window starts now.
    /// @param taskKey The task.
    /// @param round The open round.
    /// @param acceptedRoot The root (zero for an empty set).
    /// @param acceptedCount The number of leaves.
    /// @param total The sum of the leaves' amounts.
    function closeRound(
        bytes32 taskKey,
        uint256 round,
        bytes32 acceptedRoot,
        uint256 acceptedCount,
        uint256 total
    ) external;

    /// @notice Pays the caller its leaves' amounts in one transfer, one claim per round, once the rounds' challenge
    /// windows have passed. Reverts for a leaf not in its set, claimed before, voided or under an open challenge.
    /// @param taskKey The task.
    /// @param claims The caller's leaves.
    function claim(bytes32 taskKey, Claim[] calldata claims) external;

    /// @notice During a round's challenge window, anyone may challenge one of its leaves, putting up the task's
    /// challenge bond (approved beforehand). The leaf's proofs must then be shown (answerChallenge).
    /// @param taskKey The task.
    /// @param round A closed round.
    /// @param leaf The leaf.
    /// @param proof Its Merkle proof.
    function challenge(bytes32 taskKey, uint256 round, Leaf calldata leaf, bytes32[] calldata proof) external;

    /// @notice Answers a challenge with the leaf's chunk proofs; anyone may, before the answer deadline. Each proof
    /// is verified against the statement this contract builds (task, round, H_r, contributor, chunk, scale, clip),
    /// and the commitments must hash to the leaf's. The challenger's bond goes to the caller.
    /// @param taskKey The task.
    /// @param round The round.
    /// @param leaf The challenged leaf.
    /// @param proofs One per chunk, in order.
    function answerChallenge(
        bytes32 taskKey,
        uint256 round,
        Leaf calldata leaf,
        ChunkProof[] calldata proofs
    ) external;

    /// @notice After an unanswered challenge's deadline: voids the leaf and pays the challenger its bond back plus
    /// as much again from the coordinator's bond (as far as it goes). Anyone may call it.
    /// @param taskKey The task.
    /// @param round The round.
    /// @param index The leaf.
    function resolveChallenge(bytes32 taskKey, uint256 round, uint256 index) external;

    /// @notice During a round's challenge window, a contributor shows the coordinator's EIP-712 receipt for its
    /// update in that round. The coordinator must show the leaf (showLeaf) before the answer deadline.
    /// @param taskKey The task.
    /// @param round A closed round.
    /// @param updateCommitment The receipt's update commitment.
    /// @param signature The coordinator's receipt signature.
    function claimOmission(
        bytes32 taskKey,
        uint256 round,
        bytes32 updateCommitment,
        bytes calldata signature
    ) external;

    /// @notice Dismisses an omission claim by showing the contributor's leaf, with the receipt's commitment, in the
    /// round's set. Anyone may call it.
    /// @param taskKey The task.
    /// @param round The round.
    /// @param leaf The contributor's leaf.
    /// @param proof Its Merkle proof.
    function showLeaf(bytes32 taskKey, uint256 round, Leaf calldata leaf, bytes32[] calldata proof) external;

    /// @notice After an unanswered omission claim's deadline: pays the contributor the round's mean amount (and at
    /// least rewardPerRound / (count + 1)) from the coordinator's bond, as far as it goes. Anyone may call it.
    /// @param taskKey The task.
    /// @param round The round.
    /// @param contributor The contributor.
    function resolveOmission(bytes32 taskKey, uint256 round, address contributor) external;

    /// @notice Owner only, after the deadline: takes back everything not paid, 500 rounds per call (a longer task
    /// takes more calls; each call after the last round reverts with Rewards__AlreadyReclaimed), and every stake
    /// forfeited so far (also after the last round's call).
    /// @param taskKey The task.
    function reclaim(bytes32 taskKey) external;

    /// @notice Locks the task's stake for the caller, before the deadline: a task with a stake takes updates only from
    /// addresses that locked it.
    /// @param taskKey The task.
    function stake(bytes32 taskKey) external;

    /// @notice Returns the caller's stake once no leaf of the task can be challenged any more (its last round closed
    /// and that round's window passed) or after the deadline, with no dispute open.
    /// @param taskKey The task.
    function unstake(bytes32 taskKey) external;

    /// @notice The stake an address holds locked in a task.
    /// @param taskKey The task.
    /// @param contributor The address.
    /// @return amount Token base units (0: none).
    function stakeOf(bytes32 taskKey, address contributor) external view returns (uint256 amount);

    /// @notice Coordinator only, after the deadline and with no dispute open: takes back what is left of its bond.
    /// @param taskKey The task.
    function withdrawBond(bytes32 taskKey) external;

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
