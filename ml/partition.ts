/**
 * Label-skewed non-IID split as in NIID-Bench (Li et al., 2021, "Federated Learning on Non-IID Data Silos"): for
 * each class, proportions p ~ Dir(α) over clients decide how its examples are divided; a client already holding
 * its fair share (n / clients) gets no more; draws repeat until every client has `minSize` examples.
 * Small α gives few classes per client; large α approaches an IID split.
 */
import { Random } from '../common/random.js';

export interface PartitionOptions {
  clients: number;
  /** Dirichlet concentration. @default 0.5 */
  alpha?: number;
  seed?: number;
  /** Smallest shard accepted. @default 10 */
  minSize?: number;
}

export function dirichletPartition(labels: ArrayLike<number>, options: PartitionOptions): number[][] {
  const { clients, alpha = 0.5, seed = 1, minSize = 10 } = options;
  if (!Number.isInteger(clients) || clients < 1) throw new Error('clients must be a positive integer');
  if (!(alpha > 0)) throw new Error('alpha must be > 0');
  if (labels.length < clients * minSize)
    throw new Error(`${labels.length} examples cannot give ${clients} clients ${minSize} each`);
  const random = new Random(seed);
  const byClass = new Map<number, number[]>();
  for (let i = 0; i < labels.length; i++) {
    const label = labels[i]!;
    const members = byClass.get(label) ?? [];
    members.push(i);
    byClass.set(label, members);
  }
  const classes = [...byClass.keys()].sort((a, b) => a - b);
  const fairShare = labels.length / clients;
  for (let attempt = 0; attempt < 1000; attempt++) {
    const shards: number[][] = Array.from({ length: clients }, () => []);
    for (const label of classes) {
      const members = random.shuffle([...byClass.get(label)!]);
      const weights = random.dirichlet(alpha, clients).map((p, client) => (shards[client]!.length < fairShare ? p : 0));
      const total = weights.reduce((a, b) => a + b, 0);
      let start = 0;
      let cumulative = 0;
      weights.forEach((weight, client) => {
        cumulative += total > 0 ? weight / total : 1 / clients;
        const end = client === clients - 1 ? members.length : Math.round(cumulative * members.length);
        shards[client]!.push(...members.slice(start, end));
        start = end;
      });
    }
    if (shards.every((shard) => shard.length >= minSize)) return shards.map((shard) => random.shuffle(shard));
  }
  throw new Error(`no partition with ${minSize} examples per client after 1000 draws; raise alpha or lower clients`);
}
