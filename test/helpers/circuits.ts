/** Circuit artifacts for tests, built on first use (cached by content hash) from ZKFL_PTAU when it is set. */
import { buildCircuit, type CircuitArtifacts } from '../../circuits/build.js';
import { type CircuitName, circuitParams } from '../../circuits/params.js';

const builds = new Map<CircuitName, Promise<CircuitArtifacts>>();

export function circuit(name: CircuitName): Promise<CircuitArtifacts> {
  let build = builds.get(name);
  if (!build) {
    build = buildCircuit(circuitParams[name], { ptau: process.env.ZKFL_PTAU, onProgress: () => undefined });
    builds.set(name, build);
  }
  return build;
}
