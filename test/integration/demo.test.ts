import { expect } from 'chai';
import { spawnZkfl } from '../helpers/processes.js';

describe('zkfl demo', function () {
  this.timeout(300_000);

  it('runs a chain, a coordinator and clients as processes over non-IID Fashion-MNIST, pays them, prints JSON', async () => {
    const demo = spawnZkfl(['demo', '--clients', '2', '--rounds', '2', '--alpha', '0.3', '--json']);
    let stdout = '';
    demo.child.stdout!.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    expect(await demo.exited, demo.stderr.join('\n')).to.equal(0);
    const result = JSON.parse(stdout) as { rounds: Array<Record<string, number>>; rewards: Record<string, string> };
    const keys = [
      'accuracy',
      'loss',
      'onchainContributions',
      'participants',
      'proofsRejected',
      'proofsVerified',
      'rejected',
      'round',
    ];
    expect(result.rounds.map((round) => Object.keys(round).sort())).to.deep.equal([keys, keys]);
    // Two clients, one chunk each: two proofs verified per round, both recorded on-chain.
    const counts = result.rounds.map((r) => [
      r.round,
      r.participants,
      r.rejected,
      r.proofsVerified,
      r.proofsRejected,
      r.onchainContributions,
    ]);
    expect(counts).to.deep.equal([
      [1, 2, 0, 2, 0, 2],
      [2, 2, 0, 2, 0, 2],
    ]);
    expect(result.rounds[1]!.accuracy).to.be.above(0.5);
    // 100 tokens per round, split between the two: 50 + 50 each.
    expect(Object.values(result.rewards)).to.deep.equal(['100.0', '100.0']);
    expect(Object.keys(result.rewards).every((address) => /^0x[0-9a-fA-F]{40}$/.test(address))).to.equal(true);
  });
});
