/**
 * An audit bundle on disk (`zkfl audit export`, `zkfl demo --audit-out`), and fetched from a coordinator's public
 * audit API. Layout: task.json, coordinator.json ({coordinator, chain}), verification_key.json (the exact file the
 * task's key hash is taken of), rounds/round-NNNN.json (signed records), terms.json (the terms and their hash),
 * consents.json (every contributor's signed consent), and for publicAudit tasks initial-weights.bin and
 * scoring-set.json (the examples scores are computed on).
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CoordinatorApi } from '../protocol/api.js';
import type { AuditBundle, SignedRoundRecord } from '../protocol/audit.js';
import { ZkflError } from '../common/errors.js';
import type { TaskView } from '../protocol/rest.js';

export function fetchBundle(coordinatorUrl: string, taskId: string): Promise<AuditBundle> {
  return new CoordinatorApi(coordinatorUrl).audit(taskId);
}

export function writeBundle(dir: string, bundle: AuditBundle): void {
  mkdirSync(join(dir, 'rounds'), { recursive: true });
  const json = (value: unknown): string => JSON.stringify(value, null, 2) + '\n';
  writeFileSync(join(dir, 'task.json'), json(bundle.task));
  writeFileSync(join(dir, 'coordinator.json'), json({ coordinator: bundle.coordinator, chain: bundle.chain }));
  if (bundle.verificationKey !== null) writeFileSync(join(dir, 'verification_key.json'), bundle.verificationKey);
  for (const signed of bundle.rounds) {
    writeFileSync(join(dir, 'rounds', `round-${String(signed.record.round).padStart(4, '0')}.json`), json(signed));
  }
  writeFileSync(join(dir, 'terms.json'), json(bundle.terms));
  writeFileSync(join(dir, 'consents.json'), json(bundle.consents));
  if (bundle.initialWeights)
    writeFileSync(join(dir, 'initial-weights.bin'), Buffer.from(bundle.initialWeights, 'base64'));
  if (bundle.scoringSet) writeFileSync(join(dir, 'scoring-set.json'), JSON.stringify(bundle.scoringSet));
}

export function readBundle(dir: string): AuditBundle {
  const read = <T>(file: string): T => {
    try {
      return JSON.parse(readFileSync(join(dir, file), 'utf8')) as T;
    } catch (error) {
      throw new ZkflError('DATA_MALFORMED', `${join(dir, file)}: ${(error as Error).message}`);
    }
  };
  if (!existsSync(join(dir, 'task.json')))
    throw new ZkflError('DATA_MISSING', `${dir} holds no audit bundle (task.json)`);
  const { coordinator, chain } = read<Pick<AuditBundle, 'coordinator' | 'chain'>>('coordinator.json');
  const keyFile = join(dir, 'verification_key.json');
  const rounds = readdirSync(join(dir, 'rounds'))
    .filter((file) => /^round-\d+\.json$/.test(file))
    .sort()
    .map((file) => read<SignedRoundRecord>(join('rounds', file)));
  const weights = join(dir, 'initial-weights.bin');
  return {
    task: read<TaskView>('task.json'),
    verificationKey: existsSync(keyFile) ? readFileSync(keyFile, 'utf8') : null,
    coordinator,
    chain,
    rounds,
    terms: read<AuditBundle['terms']>('terms.json'),
    consents: read<AuditBundle['consents']>('consents.json'),
    ...(existsSync(weights) ? { initialWeights: readFileSync(weights).toString('base64') } : {}),
    ...(existsSync(join(dir, 'scoring-set.json'))
      ? { scoringSet: read<NonNullable<AuditBundle['scoringSet']>>('scoring-set.json') }
      : {}),
  };
}
