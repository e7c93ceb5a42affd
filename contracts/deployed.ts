/**
 * What a deployment of zkfl's contracts is (the JSON deployment.ts writes and everyone reads to find them), and the
 * verifier a circuit's tasks are checked with on it. Platform-neutral: a browser settles against one too.
 */
import { z } from 'zod';

const address = z.string().regex(/^0x[0-9a-fA-F]{40}$/);

export const deploymentSchema = z.strictObject({
  chainId: z.number().int().positive(),
  /** Where the deployer reached the chain; others may reach it elsewhere. */
  rpcUrl: z.string().optional(),
  rewards: address,
  token: address,
  /** Groth16 verifier contract by circuit name (circuits/params.ts), with its verification key's sha256. */
  verifiers: z.record(z.string(), z.strictObject({ address, verificationKeySha256: z.string() })),
  deployer: address,
  blockNumber: z.number().int().nonnegative(),
  deployedAt: z.string(),
});
export type Deployment = z.infer<typeof deploymentSchema>;

/** The verifier a circuit's tasks are checked with on this deployment. */
export function verifierFor(deployment: Deployment, circuit: string): string {
  const verifier = deployment.verifiers[circuit];
  if (!verifier) throw new Error(`the deployment has no verifier for circuit ${circuit}`);
  return verifier.address;
}
