/**
 * The shape an audit bundle must have before any check reads it. A bundle comes from a coordinator the verifier does
 * not trust, so a file that is not an audit bundle — a record missing, an amount that is not a number, an address
 * that is not one, a score past what the reward rule can take — is reported as malformed, naming the field, rather
 * than breaking the audit half-way with an exception. Only what the checks compute with is held to a shape here
 * (numbers, amounts, addresses, encodings); what the values mean is the checks' work. The task's spec is not parsed
 * with its schema: a spec stored before a field existed lacks it, and the checks read that as the old rule.
 */
import { isAddress } from 'ethers';
import { z } from 'zod';
import { isPayableScore } from '../protocol/reward-rule.js';

const address = z.string().refine((value) => isAddress(value), 'not an Ethereum address');
/** Token base units and field elements: unsigned decimals of at most 78 digits (2^256 has 78). */
const decimal = z.string().regex(/^\d{1,78}$/, 'not an unsigned decimal');
const base64 = z.string().regex(/^[A-Za-z0-9+/]*={0,2}$/, 'not base64');
const count = z.number().int().min(0);

const proofSchema = z.looseObject({
  proof: z.looseObject({ pi_a: z.array(decimal), pi_b: z.array(z.array(decimal)), pi_c: z.array(decimal) }),
  publicSignals: z.array(decimal),
});

const acceptedSchema = z.looseObject({
  address,
  numSamples: count,
  commitment: z.string(),
  fractionBits: z.array(z.number().int()),
  proofs: z.array(proofSchema),
  score: z.number().refine(isPayableScore, 'not a score the reward rule can take (finite, below 1e296)'),
  amount: decimal,
  update: z.looseObject({ q: base64, salt: z.string() }).optional(),
});

const recordSchema = z.looseObject({
  taskId: z.string(),
  round: z.number().int(),
  coordinator: address,
  modelHashBefore: z.string(),
  modelHashAfter: z.string(),
  acceptedRoot: z.string(),
  accepted: z.array(acceptedSchema),
  scoring: z.looseObject({
    pool: decimal,
    replicas: z.array(z.array(address)).optional(),
    leftOut: z.array(z.looseObject({ address, why: z.string() })).optional(),
  }),
  aggregation: z
    .looseObject({ rootNorm: z.number(), trust: z.array(z.looseObject({ address, trust: z.number() })) })
    .optional(),
  rejected: z.array(z.looseObject({ address: z.string(), code: z.string(), reason: z.string() })),
  rejectedUnlisted: count,
});

const bundleSchema = z.looseObject({
  task: z.looseObject({
    id: z.string(),
    status: z.string(),
    modelHash: z.string(),
    spec: z.looseObject({
      rounds: count,
      rewards: z.looseObject({ perRound: decimal, baseShareBps: z.number().int().min(0).max(10_000) }),
      holders: z.array(address).optional(),
    }),
    zk: z.looseObject({ chunks: count, verificationKeySha256: z.string().nullable() }),
  }),
  verificationKey: z.string().nullable(),
  coordinator: address,
  rounds: z.array(z.looseObject({ record: recordSchema, signature: z.string() })),
  initialWeights: base64.optional(),
  scoringSet: z.looseObject({ features: base64, labels: base64, exampleShape: z.array(count) }).optional(),
  terms: z.looseObject({ terms: z.looseObject({}), termsHash: z.string() }),
  consents: z.array(z.looseObject({ address, taskKey: z.string(), termsHash: z.string(), signature: z.string() })),
});

/** What is malformed in `bundle`: the first offending field, and the round it is in (null: the task's), or none. */
export function bundleShapeProblem(bundle: unknown): { round: number | null; detail: string } | undefined {
  const result = bundleSchema.safeParse(bundle);
  if (result.success) return undefined;
  const issue = result.error.issues[0]!;
  const [top, index] = issue.path;
  const round = top === 'rounds' && typeof index === 'number' ? index + 1 : null;
  return { round, detail: `${issue.path.map(String).join('.') || '(root)'}: ${issue.message}` };
}
