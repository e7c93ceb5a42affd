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

  /** A coordinator process on the devnet, with its key funded and its bond and the owner's pool minted. */
  async function coordinatorProcess() {
    const deploymentFile = join(dir, 'deployment.json');
    writeDeployment(deploymentFile, devnet.deployment);
    const dataDir = join(dir, 'coordinator');
    const identity = loadOrCreateWallet(join(dataDir, 'coordinator-key.json'));
    await devnet.fund(identity.address);
    await devnet.mint(identity.address, parseEther('1000'));
    await devnet.mint(await devnet.owner.getAddress(), parseEther('1000'));
    const start = (port = 0) =>
      spawnCoordinator(dataDir, port, ['--rpc', devnet.chain.url, '--deployment', deploymentFile]);
    return { identity, start };
  }

  /** Two funded clients of the task, running until it is settled and they claimed. */
  async function runFundedClients(url: string, taskId: string) {
    const keys = [0, 1].map((i) => join(dir, `client-${i}.json`));
    for (const key of keys) await devnet.fund(loadOrCreateWallet(key).address);
    return runClients(url, taskId, writeShards(dir, [300, 300]), keys, {
      chain: { rpcUrl: devnet.chain.url, deployment: devnet.deployment },
      settleTimeoutSeconds: patienceSeconds,
    });
  }

  /** With automine off, waits for the round's closeRound to be sent (it stays in the pool), and returns it. */
  async function closeLeftInPool(api: CoordinatorApi, taskId: string) {
    const rewards = new RewardsContract(devnet.deployment.rewards, devnet.provider);
    await eventually(
      async () => ((await rewards.events('RoundOpened', taskKey(taskId))).length === 1 ? true : undefined),
      'round 1 to open on-chain',
    );
    await devnet.provider.send('evm_setAutomine', [false]);
    const sent = await eventually(
      async () => (await api.settlement(taskId)).actions.find((a) => a.kind === 'close' && a.txHash !== null),
      'closeRound to be sent',
    );
    expect(sent.status).to.equal('pending');
    return sent.txHash!;
  }

  it('resumes after a kill while waiting for the escrow and after one with its closeRound unmined: settled once', async () => {
    const { provider, owner, deployment } = devnet;
    const { identity, start } = await coordinatorProcess();

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
    expect((await getRounds(first.url, task.id))[0]).to.include({ phase: 'open', attempts: 0 });
    first.child.kill('SIGKILL');
    await first.exited;

    // Killed with its closeRound sent but not mined; the transaction is then lost with the node's pool, and only
    // the coordinator's records know it.
    const second = await start(first.port);
    await escrowTask(owner, deployment, task, { coordinator: identity.address });
    const clients = await runFundedClients(first.url, task.id);
    const api = new CoordinatorApi(first.url);
    const sent = await closeLeftInPool(api, task.id);
    second.child.kill('SIGKILL');
    await second.exited;
    await provider.send('hardhat_dropTransaction', [sent]);
    await provider.send('evm_setAutomine', [true]);
    const rewards = new RewardsContract(deployment.rewards, provider);
    expect(await rewards.events('RoundClosed', taskKey(task.id))).to.deep.equal([]);

    const third = await start(first.port);
    try {
      const results = await Promise.all(clients);
      expect(results.map((result) => [result.status, result.rewards?.owed])).to.deep.equal([
        ['completed', 0],
        ['completed', 0],
      ]);
      const closed = await rewards.events('RoundClosed', taskKey(task.id));
      expect(closed.map((event) => Number(event.args[1]))).to.deep.equal([1]);
      // The very transaction signed before the kill, sent again: one nonce, one effect.
      expect(closed[0]!.transactionHash).to.equal(sent);
      const actions = (await api.settlement(task.id)).actions;
      expect(actions.map((a) => [a.kind, a.status])).to.deep.equal([
        ['bond', 'done'],
        ['open', 'done'],
        ['close', 'done'],
      ]);
      const [round] = await getRounds(first.url, task.id);
      expect(results.map((result) => result.rewards!.claimed)).to.deep.equal(
        results.map((result) => round!.participants.find((p) => p.address === result.address)!.amount),
      );
    } finally {
      third.child.kill('SIGKILL');
    }
  });
});
