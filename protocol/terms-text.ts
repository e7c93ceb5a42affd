/**
 * A task's terms as a data holder reads them before agreeing: the same text in `zkfl client` and on the contributor
 * page, so that both ask for consent to exactly what the other shows.
 */
import { formatEther } from 'ethers';
import type { PrivacyTerms, TaskTerms, TermsView } from './terms.js';
import { holdersSummary } from './holders.js';

function robustLine(robust: NonNullable<TaskTerms['weights']['robust']>): string {
  const how = {
    median: 'the coordinate-wise median of the updates',
    trimmedMean: `the coordinate-wise mean once the top and bottom ${(robust.trim ?? 0) * 100} % are dropped`,
    krum: `the mean of the ${robust.krumSelect} update(s) closest to their neighbours (Krum, assuming at most ${robust.byzantine} poisoned)`,
    fltrust: `the updates at the length of the owner's own update (trained on its scoring set), each weighed by how well it points the same way (FLTrust: cosine to the power ${robust.trustExponent})`,
  }[robust.rule];
  return `the model moves by ${how}, not their mean`;
}

function privacyLine(privacy: PrivacyTerms): string {
  const budget =
    privacy.targetEpsilon === null
      ? `ε ${privacy.plannedEpsilon.toFixed(2)} if every round samples as planned (no cap)`
      : `at most ε ${privacy.targetEpsilon}: no round is released past it`;
  return [
    `  privacy          user-level DP of the model and its metrics: ${budget}, δ ${privacy.delta}`,
    `                   (noise σ ${privacy.noiseMultiplier.toFixed(3)} × the clip on each round's sum; ${privacy.population} holders expected)`,
    `                   not covered: ${privacy.notCovered}`,
  ].join('\n');
}

/** `aggregation.contributorsOnly`: what is left out of the model and earns 0. */
function contributorsLine({ weights, privacy }: TaskTerms): string {
  const replay = `replaying the last round's step${weights.replayDistance ? ` (within ${weights.replayDistance} of it, relative)` : ''}`;
  if (weights.leaveOutByScore !== false)
    return `only contributors enter the model: an update worth nothing, or ${replay}, is left out and earns 0`;
  const why = privacy ? ', so the privacy noise still covers one holder' : '';
  return `only contributors enter the model: an update of zeros, or ${replay}, is left out and earns 0; each update is judged alone${why}, and every other update stays in the model`;
}

/** A task's terms as a data holder reads them before agreeing. */
export function renderTerms({ terms, termsHash }: TermsView): string {
  const { rewards } = terms;
  const model =
    'topology' in terms.model.spec ? 'a custom TF.js model' : `a ${terms.model.spec.preset.toUpperCase()} model`;
  const pool =
    rewards.chain === null
      ? BigInt(rewards.perRound) > 0n
        ? `${formatEther(rewards.perRound)} tokens per round, but not settled on-chain by this coordinator`
        : 'nothing (no reward pool)'
      : `${formatEther(rewards.perRound)} tokens per round from the pool escrowed in ${rewards.chain.rewards} (chain ${rewards.chain.chainId}, token ${rewards.chain.token})`;
  return [
    `Terms of task ${terms.taskId} "${terms.name}"`,
    `  purpose          ${terms.purpose || '(not stated by the owner)'}`,
    `  model owner      ${terms.owner ?? '(not named)'}`,
    `  coordinator      ${terms.coordinator}`,
    `  model            ${model} of ${terms.model.parameters.toLocaleString('en')} parameters, input [${terms.model.inputShape.join(', ')}], ${terms.model.classes} classes`,
    ...(terms.holders
      ? [
          `  who takes part   ${holdersSummary(terms.holders.count)} (list hash ${terms.holders.hash}): one person, one key`,
        ]
      : []),
    `  your machine     trains ${terms.training.localEpochs} local epoch(s) per round it is sampled for, up to ${terms.rounds} rounds; ${terms.roundDeadlineSeconds} s per round`,
    `  what is sent     only weight updates, clipped to L2 norm ${terms.sent.clipNorm} and quantized to ${terms.sent.valueBits}-bit values${terms.sent.proofs ? ', each with a zero-knowledge proof' : ''}; your data never leaves this machine`,
    `  what is public   ${terms.updatesPublished ? 'YOUR UPDATES (their quantized values) are published in the audit bundle' : 'round records with commitments to updates, not the updates'}`,
    ...(terms.privacy ? [privacyLine(terms.privacy)] : []),
    `  pay              ${pool}`,
    `                   split by contribution (Shapley value on the owner's evaluation data) after an equal base of ${rewards.baseShareBps / 100} %`,
    ...(rewards.valueOver === 'task'
      ? [
          `                   the value part follows your scores summed over the task: each round pays what you are short of your share of every round's pool so far (a round that gained nothing carries its pool on); what is paid is never taken back`,
        ]
      : []),
    ...(terms.weights.replicaDistance
      ? [
          `                   updates within ${terms.weights.replicaDistance} of one another (relative) count as one, their value split: copies under several keys earn what one does`,
        ]
      : []),
    ...(terms.weights.robust ? [`                   ${robustLine(terms.weights.robust)}`] : []),
    ...(terms.weights.contributorsOnly ? [`                   ${contributorsLine(terms)}`] : []),
    ...(terms.weights.contributorsOnly === false
      ? [
          `                   every accepted update enters the model and is scored: one that does nothing (zeros, a replay of the last step, noise) may be paid too`,
        ]
      : []),
    ...(terms.weights.contributorsOnly && terms.weights.leaveOutNoise
      ? [
          `                   so is noise: an update pointing nowhere the owner's data asks the model to go (its share in the span of the evaluation data's per-class gradients no more than chance)`,
        ]
      : []),
    `  settlement       claims open ${rewards.challengeWindowSeconds} s after a round closes on-chain; disputes are answered within ${rewards.answerWindowSeconds} s`,
    ...(rewards.stake
      ? [
          `  stake            ${rewards.stake} token base units locked in the escrow before your first update (the client does it); lost if a leaf of yours is voided, returned once no leaf can be challenged any more`,
        ]
      : []),
    `  terms hash       ${termsHash} (your consent signs it; stopping the client withdraws you from later rounds)`,
  ].join('\n');
}
