/**
 * The circuit parameter sets, declared once: build scripts derive file names from them, the prover and the
 * verifier look artifacts up by them, and tasks record which one their proofs use.
 */
export interface CircuitParams {
  /** Artifact name; also the circom main component's file name. */
  name: string;
  /** D: parameters proven per chunk (one Groth16 proof each). */
  chunkSize: number;
  /** B: bits per quantized value; values lie in [−2^(B−1), 2^(B−1)). */
  valueBits: number;
  /** Values packed into one field element for hashing (pack · B ≤ 253). */
  packPerElement: number;
  /** Smallest powers-of-tau power whose 2^power constraints hold the circuit. */
  ptauPower: number;
}

function params(chunkSize: number, ptauPower: number): CircuitParams {
  return { name: `update-chunk-${chunkSize}`, chunkSize, valueBits: 16, packPerElement: 15, ptauPower };
}

/**
 * `default` is what tasks use: D = 3150 = 14 Poseidon absorptions of 15 × 15 values, the largest such D whose
 * circuit (~62k constraints, ~19.8 per parameter) fits a 2^16 powers of tau. `test` is a 30-value circuit for the
 * tests; 256 and 1024 are benchmark points.
 */
export const circuitParams = {
  default: params(3150, 16),
  test: params(30, 11),
  bench256: params(256, 13),
  bench1024: params(1024, 15),
} as const satisfies Record<string, CircuitParams>;

export type CircuitName = keyof typeof circuitParams;

/** Public signals of one chunk proof, in circuit order (outputs first, then public inputs as declared). */
export const publicSignalNames = ['commitment', 'statement'] as const;

/** The parameter set a task names by its circuit name. */
export function circuitNamed(name: string): CircuitParams {
  const params = Object.values(circuitParams).find((candidate) => candidate.name === name);
  if (!params) throw new Error(`unknown circuit ${name}`);
  return params;
}
