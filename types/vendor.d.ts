// The parts of untyped dependencies that zkfl uses.

declare module 'circomlibjs' {
  interface PoseidonField {
    toObject(element: Uint8Array): bigint;
  }
  interface Poseidon {
    (inputs: Array<bigint | number>): Uint8Array;
    F: PoseidonField;
  }
  export function buildPoseidon(): Promise<Poseidon>;
}

declare module 'snarkjs' {
  export interface Groth16Proof {
    pi_a: string[];
    pi_b: string[][];
    pi_c: string[];
    protocol: string;
    curve: string;
  }
  export interface SnarkjsLogger {
    debug(message: string): void;
    log(message: string): void;
    info(message: string): void;
    warn(message: string): void;
    error(message: string): void;
  }
  type FileOrMemory = string | { type: 'mem'; data?: Uint8Array };
  export const groth16: {
    fullProve(
      input: Record<string, unknown>,
      wasmFile: string | Uint8Array,
      zkeyFile: string | Uint8Array,
      logger?: SnarkjsLogger,
    ): Promise<{ proof: Groth16Proof; publicSignals: string[] }>;
    prove(
      zkeyFile: string | Uint8Array,
      witness: FileOrMemory,
      logger?: SnarkjsLogger,
    ): Promise<{ proof: Groth16Proof; publicSignals: string[] }>;
    verify(
      verificationKey: object,
      publicSignals: string[],
      proof: Groth16Proof,
      logger?: SnarkjsLogger,
    ): Promise<boolean>;
  };
  export const zKey: {
    newZKey(r1cs: string, ptau: string, zkey: FileOrMemory, logger?: SnarkjsLogger): Promise<unknown>;
    contribute(
      zkeyOld: string,
      zkeyNew: string,
      name: string,
      entropy: string,
      logger?: SnarkjsLogger,
    ): Promise<Uint8Array>;
    beacon(
      zkeyOld: string,
      zkeyNew: string,
      name: string,
      beaconHash: string,
      iterationsExp: number,
      logger?: SnarkjsLogger,
    ): Promise<Uint8Array>;
    verifyFromR1cs(r1cs: string, ptau: string, zkey: string, logger?: SnarkjsLogger): Promise<boolean>;
    exportVerificationKey(zkey: string | { type: 'mem'; data: Uint8Array }, logger?: SnarkjsLogger): Promise<object>;
    exportSolidityVerifier(zkey: string, templates: { groth16: string }, logger?: SnarkjsLogger): Promise<string>;
  };
  export const powersOfTau: {
    newAccumulator(curve: unknown, power: number, file: string, logger?: SnarkjsLogger): Promise<unknown>;
    contribute(
      oldFile: string,
      newFile: string,
      name: string,
      entropy: string,
      logger?: SnarkjsLogger,
    ): Promise<unknown>;
    beacon(
      oldFile: string,
      newFile: string,
      name: string,
      beaconHash: string,
      iterationsExp: number,
      logger?: SnarkjsLogger,
    ): Promise<unknown>;
    preparePhase2(oldFile: string, newFile: string, logger?: SnarkjsLogger): Promise<unknown>;
  };
  export const wtns: {
    calculate(input: Record<string, unknown>, wasmFile: string, wtnsFile: FileOrMemory): Promise<void>;
    check(r1cs: string, wtnsFile: FileOrMemory, logger?: SnarkjsLogger): Promise<boolean>;
  };
  export const r1cs: {
    info(
      r1csFile: string,
      logger?: SnarkjsLogger,
    ): Promise<{ nConstraints: number; nVars: number; nOutputs: number; nPubInputs: number; nPrvInputs: number }>;
  };
  /** The part of ffjavascript's thread manager circuits/multiexp.ts drives: tasks of its wasm commands. */
  export interface ThreadManager {
    concurrency: number;
    singleThread: boolean;
    queueAction(task: Record<string, unknown>[], transfers?: ArrayBufferLike[]): Promise<Uint8Array[]>;
  }
  /** A group of ffjavascript's curve (G1 or G2); points are byte arrays, projective unless named affine. */
  export interface CurveGroup {
    F: { n8: number };
    tm: ThreadManager;
    zero: Uint8Array;
    /** The generator. */
    g: Uint8Array;
    add(a: Uint8Array, b: Uint8Array): Uint8Array;
    eq(a: Uint8Array, b: Uint8Array): boolean;
    isZero(a: Uint8Array): boolean;
    toAffine(a: Uint8Array): Uint8Array;
    multiExpAffine(bases: unknown, scalars: unknown, logger?: unknown, logText?: string): Promise<Uint8Array>;
  }
  export interface Curve {
    /** The thread manager both groups share. */
    tm: ThreadManager;
    G1: CurveGroup;
    G2: CurveGroup;
    terminate(): Promise<void>;
  }
  export const curves: {
    getCurveFromName(name: string, options?: { singleThread?: boolean }): Promise<Curve>;
  };
}

declare module 'circom_runtime' {
  export interface WitnessCalculator {
    /** The witness of `input` as a .wtns file's bytes; throws on a failed assertion. */
    calculateWTNSBin(input: Record<string, unknown>, sanityCheck: boolean): Promise<Uint8Array>;
    /** The witness of `input`, value by value. */
    calculateWitness(input: Record<string, unknown>, sanityCheck: boolean): Promise<bigint[]>;
  }
  export function WitnessCalculatorBuilder(code: Uint8Array): Promise<WitnessCalculator>;
}
