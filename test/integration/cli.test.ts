/**
 * Commands a user runs, as processes: a local chain that refuses to start without the circuits its tasks need,
 * `zkfl setup --task`, a coordinator's --public-rpc checked, a data holder declining a task's terms at the prompt, and an owner cancelling its task.
 */
import { expect } from 'chai';
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { JsonRpcProvider, parseEther } from 'ethers';
import { circuitParams } from '../../circuits/params.js';
import { loadOrCreateWallet } from '../../common/identity.js';
import { readDeployment } from '../../contracts/deployment.js';
import { RewardsContract, TokenContract } from '../../contracts/rewards.js';
import { taskKey } from '../../circuits/statement.js';
import { CoordinatorApi } from '../../protocol/api.js';
import { stopAfter } from '../helpers/cleanup.js';
import { dataRoot, smallTask, testPrefix } from '../helpers/fixtures.js';
import { freePort } from '../helpers/ports.js';
import { runZkfl as zkfl, spawnZkfl } from '../helpers/processes.js';
import { createTask } from '../helpers/rest.js';
import { startTestCoordinator } from '../helpers/servers.js';
import { tempDir } from '../helpers/temp.js';

describe('the command line', () => {
  const dir = tempDir();

  it('starts a local chain only with the circuits its tasks need, funds keys, takes escrows, stops on SIGTERM', async () => {
    const [refused, , why] = await zkfl(['chain', '--circuits', 'bench630', '--port', String(await freePort())]);
    expect(refused).to.equal(1);
    expect(why).to.include('UNAVAILABLE: circuit bench630 not built');
    expect(why).to.include('npx zkfl setup --circuit bench630');

    const ownerKey = join(dir, 'funded-owner.json');
    const owner = loadOrCreateWallet(ownerKey).address;
    const deploymentFile = join(dir, 'deployment.json');
    const port = await freePort();
    const chain = spawnZkfl([
      ...['chain', '--circuits', 'default15', '--port', String(port), '--deployment', deploymentFile],
      ...['--fund', owner, '--tokens', '7'],
    ]);
    await chain.waitForLine(/^funded 0x/);
    const deployment = readDeployment(deploymentFile);
    expect(deployment.verifiers).to.have.property(circuitParams.default15.name);
    const rpcUrl = `http://127.0.0.1:${port}`;
    const provider = new JsonRpcProvider(rpcUrl, undefined, { staticNetwork: true });
    stopAfter('test', () => provider.destroy());
    expect(await provider.getBalance(owner)).to.equal(parseEther('10'));
    expect(await new TokenContract(deployment.token, provider).balanceOf(owner)).to.equal(parseEther('7'));

    // An owner escrows from the command line: refused, with what to fund and how, before a task exists; then paid.
    const coordinator = await startTestCoordinator({
      dataRoot,
      port: 0,
      dataDir: join(dir, 'on-chain'),
      chain: { rpcUrl, deployment },
    });
    const spec = join(dir, 'escrowed.json');
    writeFileSync(spec, JSON.stringify(smallTask({ onchain: true, rewards: { perRound: String(parseEther('2')) } })));
    const create = (key: string): Promise<[number | null, string, string]> =>
      zkfl([
        ...['task', 'create', '--config', spec, '--key', key, '--escrow', '--coordinator', coordinator.url],
        ...['--rpc', rpcUrl, '--deployment', deploymentFile],
      ]);
    const broke = loadOrCreateWallet(join(dir, 'broke.json')).address;
    const [unfunded, , told] = await create(join(dir, 'broke.json'));
    expect(unfunded).to.equal(1);
    expect(told).to.include(
      `UNAVAILABLE: ${broke} needs ${parseEther('4')} more base units of the reward token ${deployment.token} and ETH for gas to escrow ${parseEther('4')}`,
    );
    expect(told).to.include(`npx zkfl chain --fund ${broke}`);
    expect(await new CoordinatorApi(coordinator.url).tasks()).to.deep.equal([]);
    const [created, id] = await create(ownerKey);
    expect(created).to.equal(0);
    const escrowed = await new RewardsContract(deployment.rewards, provider).task(taskKey(id));
    expect([escrowed?.owner, escrowed?.rewardPerRound]).to.deep.equal([owner, parseEther('2')]);
    await coordinator.close();
    chain.child.kill('SIGTERM');
    expect(await chain.exited).to.equal(0);
  });

  it("builds the circuit a task's spec needs: zkfl setup --task", async () => {
    const spec = join(dir, 'spec.json');
    writeFileSync(spec, JSON.stringify(smallTask()));
    // The test suite's own circuit: built already, so this only finds it.
    const [code, out] = await zkfl(['setup', '--task', spec]);
    expect(code).to.equal(0);
    expect(out).to.match(new RegExp(`^${circuitParams.default15.name}: \\d+ constraints`));
    const [wrong, , why] = await zkfl(['setup', '--circuit', 'huge']);
    expect(wrong).to.equal(1);
    expect(why).to.include('VALIDATION_FAILED: --circuit: huge is not one of');
  });

  it("refuses a coordinator's --public-rpc that is not an http(s) URL, or given without a chain", async () => {
    const deployment = join(dir, 'any-deployment.json');
    const address = '0x' + '11'.repeat(20);
    writeFileSync(
      deployment,
      JSON.stringify({
        chainId: 31337,
        rewards: address,
        token: address,
        verifiers: {},
        deployer: address,
        blockNumber: 0,
        deployedAt: new Date().toISOString(),
      }),
    );
    const chain = ['--rpc', 'http://127.0.0.1:1', '--deployment', deployment];
    const [notHttp, , why] = await zkfl(['coordinator', ...chain, '--public-rpc', 'ftp://rpc.example']);
    expect(notHttp).to.equal(1);
    expect(why).to.include('VALIDATION_FAILED: --public-rpc: ftp://rpc.example is not an http(s) URL');
    const [noChain, , whyNot] = await zkfl(['coordinator', '--public-rpc', 'https://rpc.example']);
    expect(noChain).to.equal(1);
    expect(whyNot).to.include('VALIDATION_FAILED: --public-rpc needs --rpc and --deployment');
  });

  it('lets a data holder decline the terms at the prompt: it neither joins nor trains', async () => {
    const coordinator = await startTestCoordinator({ dataRoot, port: 0, dataDir: join(dir, 'declined') });
    const task = await createTask(coordinator.url, smallTask());
    const key = join(dir, 'decliner.json');
    const address = loadOrCreateWallet(key).address;
    // A real terminal (script(1) gives the client a pseudo-terminal), answered "n".
    const cli = fileURLToPath(new URL('../../bin/zkfl.js', import.meta.url));
    const command = [process.execPath, cli, 'client', '--coordinator', coordinator.url, '--task', task.id]
      .concat(['--data', testPrefix, '--key', key])
      .join(' ');
    const child = spawn('script', ['-qec', command, '/dev/null'], { stdio: ['pipe', 'pipe', 'pipe'] });
    stopAfter('test', () => child.kill('SIGKILL'));
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => {
      output += chunk.toString();
      if (output.includes('[y/N]')) child.stdin.end('n\n');
    });
    const code = await new Promise((resolve) => child.on('exit', resolve));
    expect(output).to.include(task.id);
    expect(output).to.include(`CONSENT_REQUIRED: the terms of task ${task.id} were not accepted`);
    expect(code).to.equal(1);
    expect((await new CoordinatorApi(coordinator.url).holder(address)).tasks).to.deep.equal([]);
    expect((await new CoordinatorApi(coordinator.url).task(task.id)).connected).to.equal(0);
  });

  it('cancels a task for its owner, and for nobody else', async () => {
    const coordinator = await startTestCoordinator({ dataRoot, port: 0, dataDir: join(dir, 'cancelled') });
    const ownerKey = join(dir, 'owner.json');
    const task = await createTask(coordinator.url, smallTask(), loadOrCreateWallet(ownerKey));
    const base = ['task', 'cancel', '--task', task.id, '--coordinator', coordinator.url, '--key'];
    const [refused, , why] = await zkfl([...base, join(dir, 'stranger.json')]);
    expect(refused).to.equal(1);
    expect(why).to.include("FORBIDDEN: only the task's owner");
    const [code, out] = await zkfl([...base, ownerKey]);
    expect([code, out]).to.deep.equal([0, `${task.id} cancelled`]);
    expect((await new CoordinatorApi(coordinator.url).task(task.id)).status).to.equal('cancelled');
  });
});
