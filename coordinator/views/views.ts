/**
 * The coordinator's public views built from where their data lives — storage, checkpoints, the chain's events —
 * for the REST API: a round's accepted set, a task's settlement, a data holder's activity, the terms, the audit
 * bundle.
 */
import { getAddress } from 'ethers';
import { readFileSync } from 'node:fs';
import { requireCircuit } from '../../circuits/build.js';
import { circuitNamed } from '../../circuits/params.js';
import { taskKey } from '../../circuits/statement.js';
import { acceptedRoot, acceptedTotal, committedEntries } from '../../contracts/accepted-set.js';
import { bytesOf } from '../../common/bytes.js';
import { type Dataset, head } from '../../ml/examples.js';
import type { AuditBundle, ScoringSet } from '../../protocol/audit.js';
import { ZkflError } from '../../common/errors.js';
import type {
  AcceptedSetView,
  HolderView,
  InfoView,
  RoundView,
  SettlementView,
  TaskView,
} from '../../protocol/rest.js';
import { taskTerms, termsHash, type TermsView } from '../../protocol/terms.js';
import { toBytes } from '../../protocol/weights.js';
import type { Settlement } from '../settlement/settlement.js';
import type { Storage } from '../state/storage.js';
import type { Checkpoints } from '../tasks/checkpoints.js';

/** Where the views read from: the coordinator's stores, and its live answers for what only it knows. */
export interface ViewSource {
  storage: Storage;
  checkpoints: Checkpoints;
  settlement: Settlement | undefined;
  info(): InfoView;
  /** The task with what only its running coordinator knows (NOT_FOUND if there is none). */
  getTask(id: string): Promise<TaskView>;
  getRound(taskId: string, round: number): Promise<RoundView>;
  /** The task's evaluation set, for a scoring set not kept with the task (tasks from before it was). */
  evaluationSet(task: TaskView): Promise<Dataset>;
}

export class PublicViews {
  constructor(private readonly source: ViewSource) {}

  /**
   * The round's accepted (address, commitment, amount) entries and their Merkle root: what is, or will be, posted
   * on-chain. Final once the round is scored and recorded.
   */
  async acceptedSet(taskId: string, round: number): Promise<AcceptedSetView> {
    const view = await this.source.getRound(taskId, round);
    const entries = committedEntries(view.participants);
    return {
      round,
      final: view.phase === 'evaluated',
      root: acceptedRoot(entries),
      total: String(acceptedTotal(entries)),
      entries,
    };
  }

  /** The coordinator's on-chain transactions for the task, in order. */
  async settlementOf(taskId: string): Promise<SettlementView> {
    await this.source.getTask(taskId);
    return {
      actions: (await this.source.storage.chainActions.ofTask(taskId)).map(
        ({ round, kind, subject, status, txHash, attempts, lastError }) => ({
          round,
          kind,
          subject,
          status,
          txHash,
          attempts,
          lastError,
        }),
      ),
      events: this.source.settlement?.eventsOf(taskId) ?? [],
    };
  }

  /** What a data holder did on this coordinator (see HolderView). */
  async holder(addressInput: string): Promise<HolderView> {
    let address: string;
    try {
      address = getAddress(addressInput);
    } catch {
      throw new ZkflError('VALIDATION_FAILED', `${addressInput.slice(0, 64)} is not an address`, 'address');
    }
    const { consents, updates, rejections } = await this.source.storage.holders.activity(address);
    const taskIds = [...new Set([...consents.map((c) => c.taskId), ...updates.map((u) => u.taskId)])];
    const known = await Promise.all(taskIds.map((taskId) => this.source.storage.tasks.get(taskId)));
    const spent = await Promise.all(
      known.map((task) => (task?.spec.privacy ? this.source.storage.rounds.epsilonSpent(task.id) : Promise.resolve(0))),
    );
    const tasks = taskIds.flatMap((taskId, k) => {
      const task = known[k];
      if (!task) return [];
      const privacy = task.spec.privacy && { epsilon: spent[k]!, delta: task.spec.privacy.delta };
      const consent = consents.find((c) => c.taskId === taskId);
      const rounds = updates.filter((u) => u.taskId === taskId).map(({ taskId: _, ...round }) => round);
      const claims = (this.source.settlement?.eventsOf(taskId) ?? []).filter(
        (event) => event.kind === 'claimed' && event.subject === address,
      );
      return [
        {
          taskId,
          name: task.spec.name,
          status: task.status,
          consent: consent ? { termsHash: consent.termsHash, at: consent.at } : null,
          rounds,
          earned: String(rounds.reduce((sum, round) => sum + BigInt(round.amount ?? '0'), 0n)),
          claimed: String(claims.reduce((sum, claim) => sum + BigInt(claim.amount!), 0n)),
          claimedRounds: claims.map((claim) => claim.round!),
          ...(privacy ? { privacy } : {}),
        },
      ];
    });
    return { address, tasks, rejections, ...privacyLedger(tasks) };
  }

  /** The task's terms, as its clients must agree to them before they train. */
  async terms(taskId: string): Promise<TermsView> {
    return this.termsOf(await this.source.getTask(taskId));
  }

  termsOf(task: TaskView): TermsView {
    const terms = taskTerms(task, this.source.info(), taskKey(task.id));
    return { terms, termsHash: termsHash(terms) };
  }

  /** Everything a verifier needs to audit the task's finished rounds (see protocol/audit.ts). */
  async auditBundle(taskId: string): Promise<AuditBundle> {
    return { ...(await this.auditHead(taskId)), rounds: await this.source.storage.rounds.records(taskId) };
  }

  /**
   * The audit bundle as JSON text in pieces: everything but the rounds first, then one signed record at a time, read
   * from storage as it is sent. A task's records grow with its rounds and clients (gigabytes for a long public audit),
   * so the coordinator never holds more than one of them for a reader, however many read.
   */
  async *auditJson(taskId: string): AsyncGenerator<string> {
    const head = JSON.stringify(await this.auditHead(taskId));
    yield `${head.slice(0, -1)},"rounds":[`;
    for (let round = 1; ; round++) {
      const record = await this.source.storage.rounds.recordJson(taskId, round);
      if (record === undefined) break;
      yield `${round > 1 ? ',' : ''}${record}`;
    }
    yield ']}';
  }

  /** The audit bundle but its rounds. */
  private async auditHead(taskId: string): Promise<Omit<AuditBundle, 'rounds'>> {
    const task = await this.source.getTask(taskId);
    const verificationKey = task.spec.proofs
      ? readFileSync(requireCircuit(circuitNamed(task.zk.circuit)).verificationKey, 'utf8')
      : null;
    return {
      task,
      verificationKey,
      coordinator: this.source.info().coordinator,
      chain: this.source.info().chain,
      terms: this.termsOf(task),
      consents: await this.source.storage.holders.consents(taskId),
      ...(task.spec.publicAudit
        ? {
            initialWeights: Buffer.from(toBytes(this.source.checkpoints.loadWeights(taskId, 1))).toString('base64'),
            scoringSet: await this.scoringSet(task),
          }
        : {}),
    };
  }

  /**
   * The examples a publicAudit task's scores are computed on, as the audit bundle carries them: kept with the task
   * when it was created (its upload may expire once it ended), else (a task from before) read again.
   */
  private async scoringSet(task: TaskView): Promise<ScoringSet> {
    return (
      this.source.checkpoints.loadScoringSet(task.id) ??
      scoringSetOf(await this.source.evaluationSet(task), task.spec.rewards.scoringExamples)
    );
  }
}

/** The first `examples` of an evaluation set, as the audit bundle carries them. */
export function scoringSetOf(dataset: Dataset, examples: number): ScoringSet {
  const scoring = head(dataset, examples);
  return {
    features: Buffer.from(bytesOf(scoring.features)).toString('base64'),
    labels: Buffer.from(bytesOf(scoring.labels)).toString('base64'),
    exampleShape: scoring.exampleShape,
  };
}

/** The ledger of a holder's private tasks, by basic composition: ε and δ add up. */
function privacyLedger(tasks: HolderView['tasks']): Pick<HolderView, 'privacy'> {
  const spent = tasks.flatMap((task) => (task.privacy ? [task.privacy] : []));
  if (spent.length === 0) return {};
  const sum = (values: number[]): number => values.reduce((total, value) => total + value, 0);
  return {
    privacy: {
      epsilon: sum(spent.map((task) => task.epsilon)),
      delta: sum(spent.map((task) => task.delta)),
      composition: 'basic',
    },
  };
}
