/**
 * TF.js backend selection, once per process: native `@tensorflow/tfjs-node` when it loads (an optional
 * dependency whose install downloads libtensorflow), else WebAssembly with the project's own
 * Conv2DBackpropFilter kernel, else the pure-JS cpu backend.
 */
import * as tf from '@tensorflow/tfjs';
import { createLogger } from '../common/log.js';
import { wasmConv2DBackpropFilterKernel } from './conv2d-backprop-filter-wasm.js';

export const backendNames = ['tensorflow', 'wasm', 'cpu'] as const;
export type BackendName = (typeof backendNames)[number];

const log = createLogger('backend');
let selected: Promise<BackendName> | undefined;

async function tryTensorflow(): Promise<boolean> {
  try {
    // A variable specifier: the package is optional and usually absent, so it must not be resolved at type-check.
    const nativeBackend = '@tensorflow/tfjs-node';
    await import(nativeBackend);
    return await tf.setBackend('tensorflow');
  } catch (error) {
    log.debug('tfjs-node unavailable', { reason: (error as Error).message.split('\n')[0] });
    return false;
  }
}

async function tryWasm(): Promise<boolean> {
  try {
    await import('@tensorflow/tfjs-backend-wasm');
    if (!tf.getKernel('Conv2DBackpropFilter', 'wasm')) tf.registerKernel(wasmConv2DBackpropFilterKernel);
    return await tf.setBackend('wasm');
  } catch (error) {
    log.debug('wasm backend unavailable', { reason: (error as Error).message });
    return false;
  }
}

async function select(preferred: BackendName | undefined): Promise<BackendName> {
  // PROD silences tfjs's "install tfjs-node" banner on stderr; the choice is logged below instead.
  tf.env().set('PROD', true);
  const order = preferred ? [preferred, ...backendNames.filter((name) => name !== preferred)] : backendNames;
  for (const name of order) {
    const ok =
      name === 'tensorflow' ? await tryTensorflow() : name === 'wasm' ? await tryWasm() : await tf.setBackend('cpu');
    if (ok) {
      await tf.ready();
      const env = tf.env();
      const wasm = { simd: env.getBool('WASM_HAS_SIMD_SUPPORT'), threads: env.getBool('WASM_HAS_MULTITHREAD_SUPPORT') };
      log.info(`TF.js backend: ${name}`, name === 'wasm' ? wasm : {});
      return name;
    }
  }
  throw new Error('no TF.js backend could be initialised');
}

/**
 * Initialises the best available backend (or `preferred` first) and returns its name. Later calls return the
 * first call's choice: TF.js has one global engine per process.
 */
export function initBackend(preferred?: BackendName): Promise<BackendName> {
  selected ??= select(preferred);
  return selected;
}
