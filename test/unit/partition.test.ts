import { expect } from 'chai';
import { dirichletPartition } from '../../ml/partition.js';

const labels = Int32Array.from({ length: 6000 }, (_, i) => i % 10);

function classesPerClient(shards: number[][]): number {
  const counts = shards.map((shard) => new Set(shard.map((i) => labels[i])).size);
  return counts.reduce((a, b) => a + b, 0) / shards.length;
}

describe('Dirichlet partitioner', () => {
  it('gives every example to exactly one client', () => {
    const shards = dirichletPartition(labels, { clients: 7, alpha: 0.5, seed: 3 });
    const all = shards.flat().sort((a, b) => a - b);
    expect(all).to.deep.equal(Array.from({ length: labels.length }, (_, i) => i));
    for (const shard of shards) expect(shard.length).to.be.at.least(10);
  });

  it('is reproducible for a seed and differs across seeds', () => {
    const a = dirichletPartition(labels, { clients: 5, seed: 1 });
    const b = dirichletPartition(labels, { clients: 5, seed: 1 });
    const c = dirichletPartition(labels, { clients: 5, seed: 2 });
    expect(a).to.deep.equal(b);
    expect(a).to.not.deep.equal(c);
  });

  it('skews labels more as alpha shrinks', () => {
    const skewed = classesPerClient(dirichletPartition(labels, { clients: 10, alpha: 0.1, seed: 1 }));
    const balanced = classesPerClient(dirichletPartition(labels, { clients: 10, alpha: 100, seed: 1 }));
    expect(balanced).to.equal(10);
    expect(skewed).to.be.below(6);
  });

  it('refuses impossible requests', () => {
    expect(() => dirichletPartition(labels.subarray(0, 50), { clients: 10 })).to.throw(/cannot give/);
    expect(() => dirichletPartition(labels, { clients: 0 })).to.throw(/positive/);
    expect(() => dirichletPartition(labels, { clients: 2, alpha: 0 })).to.throw(/alpha/);
  });
});
