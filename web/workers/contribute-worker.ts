/**
 * A data holder's contribution, off the page's thread: the holder's files read into examples here (they never leave
 * this worker), then the client's platform-neutral round loop (client/core/) — sign-in, join with the consent the
 * page signed, and for each round it is sampled for: train with TF.js, clip, quantize, commit, prove with snarkjs,
 * send, check the receipt; for an on-chain task, the client's settlement too (claims, omissions, the stake). What
 * differs from the Node client is only what this file resolves: the files, the circuit's cache, the backend's
 * binaries, where the owed records are kept (the page's storage), and the key (a page key here, or a browser wallet
 * asked through the page).
 */
import { setWasmPaths } from '@tensorflow/tfjs-backend-wasm';
import { Wallet } from 'ethers';
import {
  type ClientEvent,
  type ClientResult,
  serveRounds,
  type Session,
  settleOwed,
} from '../../client/core/round-loop.js';
import { ClientSettlement } from '../../client/core/settlement.js';
import type { HolderSigner, OwedContribution } from '../../client/core/settling.js';
import { circuitNamed } from '../../circuits/params.js';
import { connectRpc } from '../../contracts/rpc.js';
import { ZkflError } from '../../common/errors.js';
import { setLogSink } from '../../common/log.js';
import { initBackend } from '../../ml/backend.js';
import { type Dataset, exampleSize } from '../../ml/examples.js';
import { buildModel } from '../../ml/models.js';
import { CoordinatorApi } from '../../protocol/api.js';
import type { TaskView } from '../../protocol/rest.js';
import type { Consent } from '../../protocol/terms.js';
import { taskCircuit } from './circuit-cache.js';
import { RelayedSigner, type WalletRequest } from './relayed-signer.js';
import { browserProver } from './prove-pool.js';
import { type DataTask, type PickedFile, readHolderData } from './holder-data.js';

/** Who takes part in which task, and what the page kept of it. */
interface Holding {
  coordinator: string;
  taskId: string;
  /** A key kept in the page, or the address of a browser wallet the worker asks through the page. */
  holder: { privateKey: string } | { wallet: string };
  /** What an on-chain task still owes this holder, as the page kept it. */
  owed: OwedContribution[];
}

export type ContributeRequest =
  /** The holder picked its data: read and check it against the task (nothing is sent). */
  | { type: 'data'; files: PickedFile[]; task: DataTask }
  /** The holder agreed (the page signed `consent`): take part until the task ends, then claim what it owes. */
  | ({
      type: 'start';
      consent: Consent;
      /** Rounds whose receipt the page kept (a page reloaded mid-task): not sent again. */
      keptRounds: number[];
    } & Holding)
  /** Only claim what an on-chain task owes the holder (a task that has ended). */
  | ({ type: 'claim' } & Holding)
  /** The page's wallet answered request `id`: a signature or transaction hash, or why not. */
  | { type: 'wallet'; id: number; result?: string; error?: string };

export type ContributeMessage =
  | { type: 'data'; examples: number; features: number }
  | { type: 'status'; text: string }
  | { type: 'event'; event: ClientEvent }
  | { type: 'done'; result: ClientResult }
  /** What the task owes this holder now: the page keeps it (and exports it) for a later visit. */
  | { type: 'owed'; entries: OwedContribution[] }
  /** Ask the page's browser wallet (its answer comes back as a `wallet` request). */
  | { type: 'wallet'; id: number; request: WalletRequest }
  /** What stopped reading the data, or the contribution. */
  | { type: 'error'; stage: 'data' | 'run'; code: string; message: string }
  | { type: 'log'; line: string };

// The worker's global scope, typed here: the web UI's typecheck uses the DOM library, not the worker one.
const scope = self as unknown as {
  onmessage: ((event: MessageEvent<ContributeRequest>) => void) | null;
  postMessage(message: ContributeMessage): void;
};
const post = (message: ContributeMessage): void => scope.postMessage(message);
setLogSink((line) => post({ type: 'log', line }));

let dataset: Dataset | undefined;

async function loadData({ files, task }: Extract<ContributeRequest, { type: 'data' }>): Promise<void> {
  dataset = undefined; // data that fails to read replaces what was read before: nothing stale is trained on
  dataset = await readHolderData(files, task);
  post({ type: 'data', examples: dataset.count, features: exampleSize(dataset) });
}

/** The requests to the page's wallet still waiting for its answer, by id. */
const walletAnswers = new Map<number, { resolve(value: string): void; reject(error: Error): void }>();
let walletRequests = 0;

/** Asks the page's wallet (the person approves there), and waits for its answer. */
function askWallet(request: WalletRequest): Promise<string> {
  const id = ++walletRequests;
  post({ type: 'wallet', id, request });
  return new Promise((resolve, reject) => walletAnswers.set(id, { resolve, reject }));
}

function walletAnswered({ id, result, error }: Extract<ContributeRequest, { type: 'wallet' }>): void {
  const waiting = walletAnswers.get(id);
  walletAnswers.delete(id);
  if (result !== undefined) waiting?.resolve(result);
  else waiting?.reject(new ZkflError('AUTH_FAILED', `the wallet refused: ${error}`));
}

/** The holder's signer, reading the chain (for an on-chain task) through `rpc`. */
function holderSigner(holder: Holding['holder'], rpc?: ReturnType<typeof connectRpc>): HolderSigner {
  if ('privateKey' in holder) return new Wallet(holder.privateKey, rpc);
  return new RelayedSigner(holder.wallet, rpc ?? null, askWallet);
}

/** For an on-chain task: the holder's settlement through the chain's public endpoint, its records kept by the page. */
async function settlementFor(
  api: CoordinatorApi,
  task: TaskView,
  request: Holding,
): Promise<{ signer: HolderSigner; settlement: Session['settlement'] }> {
  if (!task.spec.onchain) return { signer: holderSigner(request.holder), settlement: undefined };
  const { chain, coordinator } = await api.info();
  if (!chain?.publicRpcUrl) {
    throw new ZkflError(
      'UNAVAILABLE',
      'the task pays on-chain, and its coordinator names no public endpoint for its chain',
    );
  }
  const signer = holderSigner(request.holder, connectRpc(chain.publicRpcUrl, chain.chainId));
  const settlement = new ClientSettlement({
    store: {
      load: () => request.owed,
      save: (entries) => post({ type: 'owed', entries: [...entries] }),
      where: "this browser's storage (the page exports it)",
    },
    wallet: signer,
    deployment: chain,
    acceptedSet: (taskId, round) => api.accepted(taskId, round),
    pollMs: 1000,
  });
  return {
    signer,
    settlement: {
      settlement,
      coordinator,
      verifier: chain.verifiers[task.zk.circuit]?.address,
      receiptChain: { chainId: chain.chainId, verifyingContract: chain.rewards },
      escrowChecked: false,
    },
  };
}

async function contribute(request: Extract<ContributeRequest, Holding>): Promise<ClientResult> {
  const api = new CoordinatorApi(request.coordinator);
  const task = await api.task(request.taskId);
  const { signer, settlement } = await settlementFor(api, task, request);
  try {
    if (request.type === 'claim' || task.status !== 'running') {
      // An ended task: only what it still owes this holder is left to do.
      const rewards = settlement && (await settleOwed(settlement.settlement, task.id, {}));
      return { status: task.status, address: signer.address, roundsContributed: 0, ...(rewards ? { rewards } : {}) };
    }
    return await takePart(api, task, request, { wallet: signer, settlement });
  } finally {
    await settlement?.settlement.close();
  }
}

/** Serves the task's rounds with the holder's data until the task ends: the model and the prover live this long. */
async function takePart(
  api: CoordinatorApi,
  task: TaskView,
  request: Extract<ContributeRequest, { type: 'start' }>,
  { wallet, settlement }: Pick<Session, 'wallet' | 'settlement'>,
): Promise<ClientResult> {
  if (!dataset) throw new ZkflError('DATA_MISSING', 'choose your data first');
  // TF.js's WebAssembly binaries, served by the coordinator beside this worker.
  setWasmPaths(`${request.coordinator}/assets/tfjs/`);
  const backend = await initBackend('wasm');
  post({ type: 'event', event: { type: 'ready', address: wallet.address, backend, examples: dataset.count } });
  let pool: Awaited<ReturnType<typeof browserProver>> | undefined;
  if (task.spec.proofs) {
    const params = circuitNamed(task.zk.circuit);
    const circuit = await taskCircuit(api, params.name, task.zk.verificationKeySha256!, () =>
      post({ type: 'status', text: `Fetching the proving key of ${params.name} (once; then kept in this browser)` }),
    );
    const size = Math.min(task.zk.chunks, navigator.hardwareConcurrency || 1);
    pool = await browserProver(params, circuit.wasm, circuit.zkey, size);
  }
  const model = await buildModel(task.spec.model, task.spec.inputShape, task.spec.classes, task.spec.seed);
  try {
    // What the coordinator already holds from this address, as it says and as the page's receipts say.
    const holder = await api.holder(wallet.address);
    const held = holder.tasks.find((entry) => entry.taskId === task.id)?.rounds.map((entry) => entry.round) ?? [];
    return await serveRounds({
      options: { onEvent: (event) => post({ type: 'event', event }) },
      api,
      task,
      wallet,
      dataset,
      model,
      prover: pool?.prover,
      settlement,
      consent: request.consent,
      acceptedRounds: [...new Set([...held, ...request.keptRounds])],
    });
  } finally {
    model.dispose();
    pool?.close();
  }
}

const failed =
  (stage: 'data' | 'run') =>
  (error: unknown): void => {
    const code = error instanceof ZkflError ? error.code : 'INTERNAL';
    post({ type: 'error', stage, code, message: (error as Error).message });
  };

scope.onmessage = ({ data: request }) => {
  if (request.type === 'data') loadData(request).catch(failed('data'));
  else if (request.type === 'wallet') walletAnswered(request);
  else contribute(request).then((result) => post({ type: 'done', result }), failed('run'));
};
