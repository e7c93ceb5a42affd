/**
 * The training client on Node: loads the holder's data (which never leaves this process) and key, the task and its
 * proving keys, agrees to the terms, and hands the rest to the platform-neutral round loop (client/core/), until the
 * task ends.
 */
import type { Signer, Wallet } from 'ethers';
import { availableParallelism } from 'node:os';
import { dirname, join } from 'node:path';
import { type CircuitArtifacts, loadCircuit, verificationKeySha256 } from '../circuits/build.js';
import { fetchCircuit } from '../circuits/fetch.js';
import { circuitNamed } from '../circuits/params.js';
import { Prover } from '../circuits/prover.js';
import { taskKey } from '../circuits/statement.js';
import { loadOrCreateWallet } from '../common/identity.js';
import { createLogger } from '../common/log.js';
import { connectRpc } from '../contracts/rpc.js';
import type { Deployment } from '../contracts/deployment.js';
import { type BackendName, initBackend } from '../ml/backend.js';
import { loadDataset } from '../ml/dataset.js';
import { isImageFolder, loadImageFolder } from '../ml/image-folder.js';
import { buildModel } from '../ml/models.js';
import { checkCompatible } from '../ml/train.js';
import { CoordinatorApi } from '../protocol/api.js';
import { ZkflError } from '../common/errors.js';
import type { TaskView } from '../protocol/rest.js';
import { checkInvited } from '../protocol/holders.js';
import { type Consent, signConsent, termsHash, type TermsView } from '../protocol/terms.js';
import {
  type ClientResult,
  privacySpent,
  type RoundOptions,
  serveRounds,
  type Session,
  settleOwed,
} from './core/round-loop.js';
import { ClientSettlement } from './core/settlement.js';
import { owedFile } from './owed-file.js';

export interface ClientOptions extends RoundOptions {
  /** Base URL of the coordinator, e.g. http://127.0.0.1:8080. */
  coordinatorUrl: string;
  taskId: string;
  /** A CSV file, an IDX prefix or a directory holding one IDX pair (see ml/dataset.ts). */
  dataPath: string;
  /** File holding the client's Ethereum key; created on first use (encrypted when `keyPassword` is given). */
  keyPath: string;
  /** Unlocks the key when it is an encrypted keystore. */
  keyPassword?: string;
  /** Backend to try first. @default the best that loads */
  backend?: BackendName;
  /** Where `onchain` tasks pay: a JSON-RPC URL and the deployment there. Without it, rewards are not claimed. */
  chain?: { rpcUrl: string; deployment: Deployment };
  /**
   * Use this machine's `zkfl setup` build of the task's circuit when its keys are the task's; otherwise (or when
   * false) the proving keys are fetched from the coordinator and checked (circuits/fetch.ts). @default true
   */
  localCircuit?: boolean;
  /** Where fetched proving keys are kept. @default `circuits/` beside the key file */
  circuitCache?: string;
  /**
   * Shows the task's terms to the data holder and resolves with their answer; the client trains only after a yes,
   * and signs its consent to exactly these terms. `zkfl client` asks on the terminal, or takes `--accept-terms`.
   */
  agreeToTerms: (terms: TermsView) => Promise<boolean>;
}

export type { ClientEvent, ClientResult } from './core/round-loop.js';

const log = createLogger('client');

/** Runs until the task ends; rejects on a fatal error (bad data, bad key, unknown task, refused login). */
export async function runClient(options: ClientOptions): Promise<ClientResult> {
  // Files are read before anything else, so that bad data is said first; an image folder is made examples of the
  // task's input shape, so it waits for the task.
  const files = isImageFolder(options.dataPath) ? undefined : loadDataset(options.dataPath);
  const wallet = loadOrCreateWallet(options.keyPath, options.keyPassword);
  const backend = await initBackend(options.backend);
  const api = new CoordinatorApi(options.coordinatorUrl);
  const task = await api.task(options.taskId);
  const dataset = files ?? loadImageFolder(options.dataPath, task.spec);
  checkCompatible(dataset, task.spec.inputShape, task.spec.classes);
  options.onEvent?.({ type: 'ready', address: wallet.address, backend, examples: dataset.count });
  log.info('client ready', { address: wallet.address, backend, examples: dataset.count, task: task.id });
  const settlement = await settlementFor(options, api, task, wallet);
  try {
    const result = await takePart(options, { api, task, wallet, dataset, settlement });
    const privacy = task.spec.privacy && (await privacySpent(api, task.id, wallet.address));
    return privacy ? { ...result, privacy } : result;
  } finally {
    await settlement?.settlement.close();
  }
}

/** Agrees to the task's terms and serves its rounds, or only settles what a finished task owes. */
async function takePart(
  options: ClientOptions,
  { api, task, wallet, dataset, settlement }: Pick<Session, 'api' | 'task' | 'wallet' | 'dataset' | 'settlement'>,
): Promise<ClientResult> {
  if (task.status !== 'running') {
    // A client restarted after the task ended still settles what it is owed.
    const rewards = settlement && (await settleOwed(settlement.settlement, task.id, options));
    return { status: task.status, address: wallet.address, roundsContributed: 0, ...(rewards ? { rewards } : {}) };
  }
  const consent = await agree(options, api, task, wallet);
  const artifacts = task.spec.proofs ? await provingArtifacts(options, api, task) : undefined;
  // One prover for the whole run: its processes load the proving key once.
  const prover = artifacts && new Prover(artifacts, { processes: Math.min(task.zk.chunks, availableParallelism()) });
  const model = await buildModel(task.spec.model, task.spec.inputShape, task.spec.classes, task.spec.seed);
  try {
    return await serveRounds({ options, api, task, wallet, dataset, model, prover, settlement, consent });
  } finally {
    model.dispose();
    prover?.close();
  }
}

/** For an `onchain` task with a chain configured: the settlement, and the coordinator address receipts must name. */
async function settlementFor(
  options: ClientOptions,
  api: CoordinatorApi,
  task: TaskView,
  wallet: Wallet,
): Promise<Session['settlement']> {
  if (!task.spec.onchain) return undefined;
  if (!options.chain) {
    log.warn('this task pays rewards on-chain; start the client with --rpc and --deployment to claim them');
    return undefined;
  }
  const { rpcUrl, deployment } = options.chain;
  const info = await api.info();
  const settlement = new ClientSettlement({
    store: owedFile(join(dirname(options.keyPath), `settlement-${wallet.address}.json`)),
    wallet: wallet.connect(connectRpc(rpcUrl, deployment.chainId)),
    deployment,
    acceptedSet: (taskId, round) => api.accepted(taskId, round),
    pollMs: 500,
  });
  return {
    settlement,
    coordinator: info.coordinator,
    verifier: deployment.verifiers[task.zk.circuit]?.address,
    receiptChain: { chainId: deployment.chainId, verifyingContract: deployment.rewards },
    escrowChecked: false,
  };
}

/** Shows the task's terms; on the holder's agreement, signs its consent to them (CONSENT_REQUIRED otherwise). */
async function agree(options: ClientOptions, api: CoordinatorApi, task: TaskView, wallet: Signer): Promise<Consent> {
  // Not asked to agree to what it cannot take part in.
  checkInvited(task.id, task.spec.holders, await wallet.getAddress());
  const view = await api.terms(task.id);
  if (termsHash(view.terms) !== view.termsHash || view.terms.taskKey !== taskKey(task.id)) {
    throw new ZkflError('CONSENT_REQUIRED', "the coordinator's terms do not hash to the hash it serves with them");
  }
  if (!(await options.agreeToTerms(view))) {
    throw new ZkflError('CONSENT_REQUIRED', `the terms of task ${task.id} were not accepted: not taking part`);
  }
  const consent = await signConsent(wallet, view.terms.taskKey, view.termsHash);
  options.onEvent?.({ type: 'consented', taskId: task.id, termsHash: view.termsHash });
  log.info('agreed to the task terms', { task: task.id, termsHash: view.termsHash });
  return consent;
}

/** The task's proving artifacts: this machine's build when its keys are the task's, else the coordinator's. */
async function provingArtifacts(
  options: ClientOptions,
  api: CoordinatorApi,
  task: TaskView,
): Promise<CircuitArtifacts> {
  const local = options.localCircuit === false ? undefined : loadCircuit(circuitNamed(task.zk.circuit));
  if (local && verificationKeySha256(local) === task.zk.verificationKeySha256) return local;
  return fetchCircuit(api, task, options.circuitCache ?? join(dirname(options.keyPath), 'circuits'));
}
