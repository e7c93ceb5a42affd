/**
 * A data holder's contribution, off the page's thread: the holder's files read into examples here (they never leave
 * this worker), then the client's platform-neutral round loop (client/core/) — sign-in, join with the consent the
 * page signed, and for each round it is sampled for: train with TF.js, clip, quantize, commit, prove with snarkjs,
 * send, check the receipt. What differs from the Node client is only what this file resolves: the files, the
 * circuit's cache, the backend's binaries.
 */
import { setWasmPaths } from '@tensorflow/tfjs-backend-wasm';
import { Wallet } from 'ethers';
import { type ClientEvent, type ClientResult, serveRounds } from '../../client/core/round-loop.js';
import { circuitNamed } from '../../circuits/params.js';
import { ZkflError } from '../../common/errors.js';
import { setLogSink } from '../../common/log.js';
import { initBackend } from '../../ml/backend.js';
import { type Dataset, exampleSize } from '../../ml/examples.js';
import { buildModel } from '../../ml/models.js';
import { CoordinatorApi } from '../../protocol/api.js';
import type { Consent } from '../../protocol/terms.js';
import { taskCircuit } from './circuit-cache.js';
import { browserProver } from './prove-pool.js';
import { type DataTask, type PickedFile, readHolderData } from './holder-data.js';

export type ContributeRequest =
  /** The holder picked its data: read and check it against the task (nothing is sent). */
  | { type: 'data'; files: PickedFile[]; task: DataTask }
  /** The holder agreed (the page signed `consent`): take part until the task ends. */
  | {
      type: 'start';
      coordinator: string;
      taskId: string;
      privateKey: string;
      consent: Consent;
      /** Rounds whose receipt the page kept (a page reloaded mid-task): not sent again. */
      keptRounds: number[];
    };

export type ContributeMessage =
  | { type: 'data'; examples: number; features: number }
  | { type: 'status'; text: string }
  | { type: 'event'; event: ClientEvent }
  | { type: 'done'; result: ClientResult }
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

async function contribute(request: Extract<ContributeRequest, { type: 'start' }>): Promise<ClientResult> {
  if (!dataset) throw new ZkflError('DATA_MISSING', 'choose your data first');
  const api = new CoordinatorApi(request.coordinator);
  const task = await api.task(request.taskId);
  // TF.js's WebAssembly binaries, served by the coordinator beside this worker.
  setWasmPaths(`${request.coordinator}/assets/tfjs/`);
  const backend = await initBackend('wasm');
  const wallet = new Wallet(request.privateKey);
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
      settlement: undefined,
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
  else contribute(request).then((result) => post({ type: 'done', result }), failed('run'));
};
