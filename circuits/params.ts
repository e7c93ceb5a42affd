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
  valueBits: ValueBits;
  /** Values packed into one field element for hashing (pack · B ≤ 253). */
  packPerElement: number;
  /** Smallest powers-of-tau power whose 2^power constraints hold the circuit. */
  ptauPower: number;
}

/** The value widths a task may choose (`quantization.bits`). */
export const valueBitsChoices = [6, 8, 16] as const;
export type ValueBits = (typeof valueBitsChoices)[number];

function params(chunkSize: number, valueBits: ValueBits, ptauPower: number): CircuitParams {
  const suffix = valueBits === 6 ? '' : `-b${valueBits}`;
  return {
    name: `update-chunk-${chunkSize}${suffix}`,
    chunkSize,
    valueBits,
    // As many B-bit values as fit below the field's 253 safe bits.
    packPerElement: Math.floor(253 / valueBits),
    ptauPower,
  };
}

/**
 * The `default` family is what tasks use. For 6-bit values (the default width) it has two sizes, each as large as
 * its powers of tau holds: `default`, D = 8100 in 2^16 (65,147 constraints, 8.04 per parameter: 12 Poseidon
 * absorptions of 15 elements × 42 values and part of a 13th), and `default15`, D = 3990 in 2^15 (32,699
 * constraints), for models small enough that one half-size proof covers them. Its 8- and 16-bit members serve tasks
 * that choose those widths: `default8` (D = 6045, 13 absorptions of 15 × 31 values, 10.4 per parameter) and
 * `default16` (D = 3150, 14 absorptions of 15 × 15, 19.9 per parameter). The `test` family has 30-value chunks, for
 * the tests; the bench sets are benchmark points.
 */
export const circuitParams = {
  default: params(8100, 6, 16),
  default15: params(3990, 6, 15),
  default8: params(6045, 8, 16),
  default16: params(3150, 16, 16),
  test: params(30, 6, 11),
  test8: params(30, 8, 11),
  test16: params(30, 16, 11),
  bench630: params(630, 6, 13),
  bench2520: params(2520, 6, 15),
} as const satisfies Record<string, CircuitParams>;

export type CircuitName = keyof typeof circuitParams;

/** The circuit families a coordinator proves with: `default` in production, `test` in the tests. */
export type CircuitFamily = 'default' | 'test';

const families: Record<CircuitFamily, Record<ValueBits, CircuitName[]>> = {
  default: { 6: ['default', 'default15'], 8: ['default8'], 16: ['default16'] },
  test: { 6: ['test'], 8: ['test8'], 16: ['test16'] },
};

/**
 * The circuit of `family` that proves a model of `numParams` parameters at `bits` bits for the least work: proving
 * time grows with the circuit's domain, so the one with the fewest chunks × 2^power, the larger one on a tie (fewer
 * proofs to send and, if challenged, to verify on-chain).
 */
export function circuitFor(family: CircuitFamily, bits: ValueBits, numParams: number): CircuitParams {
  const cost = (params: CircuitParams): number => Math.ceil(numParams / params.chunkSize) * 2 ** params.ptauPower;
  return families[family][bits]
    .map((name) => circuitParams[name])
    .reduce((best, params) =>
      cost(params) < cost(best) || (cost(params) === cost(best) && params.chunkSize > best.chunkSize) ? params : best,
    );
}

/**
 * What `zkfl setup` builds without `--circuit`, and what `zkfl chain` deploys verifiers for unless told otherwise:
 * both sizes of the default 6-bit family, so that a task of any model size with the default quantization can be
 * proven and settled (the demo's models and the README's walkthroughs among them).
 */
export const defaultSetup: CircuitName[] = ['default', 'default15'];

/** Public signals of one chunk proof, in circuit order (outputs first, then public inputs as declared). */
export const publicSignalNames = ['commitment', 'statement'] as const;

/** The parameter set a task names by its circuit name. */
export function circuitNamed(name: string): CircuitParams {
  const params = Object.values(circuitParams).find((candidate) => candidate.name === name);
  if (!params) throw new Error(`unknown circuit ${name}`);
  return params;
}
