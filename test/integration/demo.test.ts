import { expect } from 'chai';
import { formatEther } from 'ethers';
import type { DemoResult } from '../../demo/demo.js';
import { runZkfl } from '../helpers/processes.js';

describe('zkfl demo', function () {
  it('runs a chain, a coordinator and clients as processes over non-IID Fashion-MNIST, pays them by score, prints JSON', async () => {
    const [code, stdout, stderr] = await runZkfl([
      'demo',
      '--clients',
      '2',
      '--rounds',
      '2',
      '--alpha',
      '0.3',
      '--json',
    ]);
    expect(code, stderr).to.equal(0);
    const result = JSON.parse(stdout) as Pick<DemoResult, 'rounds' | 'rewards' | 'settlement'>;
    const keys = [
      'accuracy',
      'amounts',
      'loss',
      'paidOnchain',
      'participants',
      'proofsRejected',
      'proofsVerified',
      'provingSeconds',
      'rejected',
      'round',
      'scores',
    ];
    expect(result.rounds.map((round) => Object.keys(round).sort())).to.deep.equal([keys, keys]);
    // Two clients, one chunk each: two proofs verified per round.
    const counts = result.rounds.map((r) => [r.round, r.participants, r.rejected, r.proofsVerified, r.proofsRejected]);
    expect(counts).to.deep.equal([
      [1, 2, 0, 2, 0],
      [2, 2, 0, 2, 0],
    ]);
    expect(result.rounds[1]!.accuracy).to.be.above(0.5);
    // Every accepted contributor scored and given an amount; rounds 1..r pay at most r pools of 100 tokens (value is
    // paid over the task: a round may pay what an earlier one left), and each client's balance is exactly what its
    // leaves said.
    const addresses = Object.keys(result.rewards!).sort();
    for (const address of addresses) expect(address).to.match(/^0x[0-9a-fA-F]{40}$/);
    let total = 0n;
    for (const [r, round] of result.rounds.entries()) {
      expect(Object.keys(round.scores).sort()).to.deep.equal(addresses);
      total += Object.values(round.amounts).reduce((sum, amount) => sum + BigInt(amount), 0n);
      expect(total <= BigInt(r + 1) * 100n * 10n ** 18n, `rounds 1-${r + 1} paid ${total}`).to.equal(true);
    }
    for (const address of addresses) {
      const earned = result.rounds.reduce((sum, round) => sum + BigInt(round.amounts[address]!), 0n);
      expect(result.rewards![address]).to.equal(formatEther(earned));
    }
    expect(result.settlement!.gasPerContributorPerRound).to.be.above(0);
  });
});
