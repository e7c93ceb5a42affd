/**
 * A coordinator process SIGKILLed in the phases of an on-chain round that the training restart tests do not reach:
 * while it waits for the owner's escrow, and while its closeRound transaction is signed and sent but not mined (the
 * chain's automine is off, and the transaction is then dropped from its pool, as a node restart would). Each time
 * the next process picks up where the last stopped, and the round is settled exactly once.
 */
import { expect } from 'chai';
import { join } from 'node:path';
import { parseEther } from 'ethers';
import { taskKey } from '../../circuits/statement.js';
import { loadOrCreateWallet } from '../../common/identity.js';
import type { Devnet } from '../../contracts/devnet.js';
import { writeDeployment } from '../../contracts/deployment.js';
import { escrowTask } from '../../contracts/escrow.js';
import { RewardsContract } from '../../contracts/rewards.js';
import { CoordinatorApi } from '../../protocol/api.js';
import { circuit } from '../helpers/circuits.js';
import { runClients } from '../helpers/clients.js';
import { smallTask, writeShards } from '../helpers/fixtures.js';
import { spawnCoordinator } from '../helpers/processes.js';
import { createTask, eventually, getRounds, patienceSeconds } from '../helpers/rest.js';
import { tempDir } from '../helpers/temp.js';
import { startTestDevnet } from '../helpers/servers.js';

describe('coordinator killed while settling', function () {
  const dir = tempDir();
  let devnet: Devnet;

  before(async () => {
    devnet = await startTestDevnet([await circuit('default15')]);
  });
  after(() => devnet?.stop());

  it('resumes after a kill while waiting for the escrow and after one with its closeRound unmined: settled once', async () => {
    const { provider, owner, deployment } = devnet;
    const rpc = (method: string, params: unknown[] = []): Promise<unknown> => provider.send(method, params);
    const deploymentFile = join(dir, 'deployment.json');
    writeDeployment(deploymentFile, deployment);
    const dataDir = join(dir, 'coordinator');
    const identity = loadOrCreateWallet(join(dataDir, 'coordinator-key.json'));
    await devnet.fund(identity.address);
    await devnet.mint(identity.address, parseEther('1000'));
    await devnet.mint(await owner.getAddress(), parseEther('1000'));
    const start = (port = 0) =>
      spawnCoordinator(dataDir, port, ['--rpc', devnet.chain.url, '--deployment', deploymentFile]);

    // Killed while round 1 waits for the escrow.
    const first = await start();
    const task = await createTask(
      first.url,
      smallTask({
        onchain: true,
        rounds: 1,
        rewards: { perRound: String(parseEther('90')), challengeWindowSeconds: 3, answerWindowSeconds: 3 },
      }),
      owner,
    );
    await new Promise((resolve) => setTimeout(resolve, 1500));
    expect((await getRounds(first.url, task.id))[0]).to.include({ phase: 'open', attempts: 0 });
    first.child.kill('SIGKILL');
    await first.exited;

    const second = await start(first.port);
    await escrowTask(owner, deployment, task, { coordinator: identity.address });
    const keys = [0, 1].map((i) => join(dir, `client-${i}.json`));
    for (const key of keys) await devnet.fund(loadOrCreateWallet(key).address);
    const chain = { rpcUrl: devnet.chain.url, deployment };
    const clients = runClients(first.url, task.id, writeShards(dir, [300, 300]), keys, {
      chain,
      settleTimeoutSeconds: patienceSeconds,
    });
    const key = taskKey(task.id);
    const rewards = new RewardsContract(deployment.rewards, provider);
    await eventually(
      async () => ((await rewards.events('RoundOpened', key)).length === 1 ? true : undefined),
      'round 1 to open on-chain',
    );
    // From now on nothing is mined until the test says so: the round's close stays in the pool.
    await rpc('evm_setAutomine', [false]);
    const api = new CoordinatorApi(first.url);
    const sent = await eventually(
      async () => (await api.settlement(task.id)).actions.find((a) => a.kind === 'close' && a.txHash !== null),
      'closeRound to be sent',
    );
    expect(sent.status).to.equal('pending');
    second.child.kill('SIGKILL');
    await second.exited;
    // The transaction is lost with the node's pool; only the coordinator's records know it.
    await rpc('hardhat_dropTransaction', [sent.txHash]);
    await rpc('evm_setAutomine', [true]);
    expect(await rewards.events('RoundClosed', key)).to.deep.equal([]);

    const third = await start(first.port);
    try {
      const results = await Promise.all(clients);
      expect(results.map((result) => [result.status, result.rewards?.owed])).to.deep.equal([
        ['completed', 0],
        ['completed', 0],
      ]);
      const closed = await rewards.events('RoundClosed', key);
      expect(closed.map((event) => Number(event.args[1]))).to.deep.equal([1]);
      // The very transaction signed before the kill, sent again: one nonce, one effect.
      expect(closed[0]!.transactionHash).to.equal(sent.txHash);
      const actions = (await api.settlement(task.id)).actions;
      expect(actions.map((a) => [a.kind, a.status])).to.deep.equal([
        ['bond', 'done'],
        ['open', 'done'],
        ['close', 'done'],
      ]);
      const claimed = results.map((result) => result.rewards!.claimed);
      const [round] = await getRounds(first.url, task.id);
      expect(claimed).to.deep.equal(
        results.map((result) => round!.participants.find((p) => p.address === result.address)!.amount),
      );
    } finally {
      third.child.kill('SIGKILL');
    }
  });
});
