/**
 * A private task's accounting, checked from its spec and its signed round records (protocol/privacy.ts): each
 * round's σ is the task's, its q is what it sampled over whom it sampled from, it sampled at least everyone it
 * accepted and from no more holders than consented, the ε it records is the accountant's, and none passes the budget.
 *
 * What rests on the coordinator's word: that the noise was drawn and added (the noisy aggregate is indistinguishable
 * from any other model without the updates, which a private task never publishes), and how many of the holders who
 * consented were connected when a round sampled (`eligible`, bounded here by the consents).
 */
import { epsilonAfter, noiseMultiplierOf, type PrivacyStep, samplingRate } from '../protocol/privacy.js';
import type { AuditBundle } from '../protocol/audit.js';
import type { ReportProblem } from './problems.js';

/** What the audit says of a private task's privacy. */
export interface PrivacyAudit {
  epsilon: number;
  delta: number;
  targetEpsilon: number | null;
  /** What the verifier cannot check. */
  onTrust: string;
}

const onTrust =
  'that each round drew the noise and added it to its sum, and how many consenting holders it could sample from';

/** The ε the accountant gives for the steps up to each round, against what each record says. */
export function checkPrivacy(bundle: AuditBundle, consented: number, problem: ReportProblem): PrivacyAudit | undefined {
  const { spec } = bundle.task;
  if (!spec.privacy) {
    for (const { record } of bundle.rounds)
      if (record.privacy) problem(record.round, 'privacy', 'the record accounts privacy for a task without it');
    return undefined;
  }
  let sigma: number;
  try {
    sigma = noiseMultiplierOf(spec);
  } catch (error) {
    problem(null, 'privacy', (error as Error).message);
    return undefined;
  }
  const steps: PrivacyStep[] = [];
  let epsilon = 0;
  for (const { record } of bundle.rounds) {
    const privacy = record.privacy;
    if (!privacy) {
      problem(record.round, 'privacy', 'the record of a private task accounts no privacy');
      continue;
    }
    const claim = (ok: boolean, detail: string): void => void (ok || problem(record.round, 'privacy', detail));
    claim(privacy.noiseMultiplier === sigma, `σ is ${privacy.noiseMultiplier}, the task's ${sigma}`);
    claim(privacy.q === samplingRate(privacy.sampled, privacy.eligible), `q is not sampled/eligible`);
    claim(
      privacy.sampled >= record.accepted.length,
      `${record.accepted.length} accepted of ${privacy.sampled} sampled`,
    );
    claim(privacy.eligible <= consented, `sampled from ${privacy.eligible} holders; ${consented} consented`);
    steps.push({ q: privacy.q, noiseMultiplier: sigma });
    epsilon = epsilonAfter(steps, spec.privacy.delta);
    claim(
      Math.abs(privacy.epsilon - epsilon) <= 1e-9 * Math.max(1, epsilon),
      `ε is recorded as ${privacy.epsilon}; the accountant gives ${epsilon}`,
    );
    const budget = spec.privacy.targetEpsilon;
    claim(budget === undefined || epsilon <= budget, `ε ${epsilon} passes the task's budget ${budget}`);
  }
  return { epsilon, delta: spec.privacy.delta, targetEpsilon: spec.privacy.targetEpsilon ?? null, onTrust };
}

/** The privacy audit in one sentence, for the CLI and the page. */
export function privacySentence(privacy: PrivacyAudit): string {
  const budget = privacy.targetEpsilon === null ? 'no cap' : `budget ${privacy.targetEpsilon}`;
  return `privacy: ε ${privacy.epsilon.toFixed(3)} at δ ${privacy.delta} (${budget}), recomputed from the records; on the coordinator's word: ${privacy.onTrust}.`;
}
