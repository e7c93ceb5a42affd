/**
 * The contributor page on a task that pays on-chain (Debian's chromium, a real coordinator, a local chain, real
 * proofs): a holder with a key kept in the page and one with a browser wallet backed by a real key take part beside a
 * Node client, each page locks the task's stake and takes it back, claims what the task owes it, every round in one
 * transaction, and shows what it holds and was paid. A page shown a set without its update claims the omission with its receipt; a page left mid-task and
 * reopened after the task ended claims what its kept records say is owed. `zkfl verify` then passes on the run, against the chain.
 */
import { expect } from 'chai';
import { join } from 'node:path';
import { parseEther, type Signer, Wallet } from 'ethers';
import type { Browser, Page } from 'playwright-core';
import { taskKey } from '../../circuits/statement.js';
import { owedFile } from '../../client/owed-file.js';
import { loadOrCreateWallet } from '../../common/identity.js';
import { writeDeployment } from '../../contracts/deployment.js';
import type { Devnet } from '../../contracts/devnet.js';
import { escrowTask } from '../../contracts/escrow.js';
import { RewardsContract, TokenContract } from '../../contracts/rewards.js';
import type { RunningCoordinator } from '../../coordinator/server.js';
import { CoordinatorApi } from '../../protocol/api.js';
import { receiptSigner } from '../../protocol/receipt.js';
import type { AcceptedSetView, RoundView } from '../../protocol/rest.js';
import type { TaskSpecInput } from '../../protocol/task-spec.js';
import { injectWallet } from '../helpers/browser-wallet.js';
import { circuit } from '../helpers/circuits.js';
import { runClients } from '../helpers/clients.js';
import { openWithKey, pageAddress, recordSent, sentOut } from '../helpers/contribute-page.js';
import { dataRoot, smallTask, writeCsv, writeShards } from '../helpers/fixtures.js';
import { runZkfl } from '../helpers/processes.js';
import { createTask, eventually, getRounds, patienceSeconds } from '../helpers/rest.js';
import { startTestBrowser, startTestCoordinator, startTestDevnet } from '../helpers/servers.js';
import { tempDir } from '../helpers/temp.js';

const REWARD_PER_ROUND = parseEther('90');

/**
 * Windows no page could miss, however busy the machine: the test passes them by moving the chain's clock, once what
 * must happen inside them (an omission claimed and answered) has happened.
 */
const WINDOW_SECONDS = 3600;

function onchainTask(overrides: Partial<TaskSpecInput> = {}): TaskSpecInput {
  return smallTask({
    onchain: true,
    publicAudit: true,
    rewards: {
      perRound: String(REWARD_PER_ROUND),
      challengeWindowSeconds: WINDOW_SECONDS,
      answerWindowSeconds: WINDOW_SECONDS,
    },
    ...overrides,
  });
}

/** The first time the page asks for round `round`'s accepted set, answers it without `address`'s entry. */
async function omitOnce(page: Page, round: number, address: () => string): Promise<void> {
  let lied = false;
  await page.context().route(`**/api/tasks/*/rounds/${round}/accepted`, async (route) => {
    const response = await route.fetch();
    if (lied) return route.fulfill({ response });
    lied = true;
    const set = (await response.json()) as AcceptedSetView;
    const entries = set.entries.filter((entry) => entry.address !== address());
    await route.fulfill({ response, json: { ...set, entries } });
  });
}

describe('the contributor page, on a task that pays on-chain', function () {
  const dir = tempDir();
  let devnet: Devnet;
  let owner: Signer;
  let browser: Browser;
  let coordinator: RunningCoordinator;
  let csv: string;

  before(async () => {
    devnet = await startTestDevnet([await circuit('default15')]);
    owner = devnet.owner;
    await devnet.mint(await owner.getAddress(), parseEther('1000000'));
    writeDeployment(join(dir, 'deployment.json'), devnet.deployment);
    coordinator = await startTestCoordinator({
      dataRoot,
      port: 0,
      dataDir: join(dir, 'coordinator'),
      chain: { rpcUrl: devnet.chain.url, deployment: devnet.deployment, publicRpcUrl: devnet.chain.url },
      settlement: { pollMs: 100, maxRetryMs: 500, receiptTimeoutMs: 10_000, disputePollMs: 300 },
    });
    await devnet.fund(coordinator.coordinator.identity.address);
    await devnet.mint(coordinator.coordinator.identity.address, REWARD_PER_ROUND * 10n);
    browser = await startTestBrowser();
    csv = writeCsv(join(dir, 'holder.csv'), 300, 2000);
  });
  after(async () => {
    await coordinator?.close();
    await browser?.close();
    await devnet?.stop();
  });

  /** What each address is owed over the task: the sum of its rounds' amounts. */
  const owedTo = (rounds: RoundView[], address: string): bigint =>
    rounds.reduce((sum, round) => sum + BigInt(round.participants.find((p) => p.address === address)?.amount ?? 0), 0n);

  it('pays a page key and a browser wallet beside a Node client: each page claims, an omission is shown by its receipt, and the run verifies', async () => {
    // The task asks each contributor to lock a stake: the pages lock it (approve, then stake) before their first update
    // and take it back once nothing of theirs can be challenged.
    const stake = parseEther('2');
    const spec = onchainTask({ clientsPerRound: { min: 3, target: 3 } });
    const task = await createTask(
      coordinator.url,
      { ...spec, rewards: { ...spec.rewards!, stake: String(stake) } },
      owner,
    );
    /** ETH for gas and the stake's tokens, as `zkfl chain --fund` gives them. */
    const fund = async (address: string): Promise<void> => {
      await devnet.fund(address);
      await devnet.mint(address, stake);
    };
    const api = new CoordinatorApi(coordinator.url);
    await escrowTask(owner, devnet.deployment, task, { coordinator: (await api.info()).coordinator });

    // A key made in the page, funded for gas once the page shows its address; round 1's set is shown to it without
    // its update.
    const keyPage = await (await browser.newContext()).newPage();
    let keyAddress = '';
    await omitOnce(keyPage, 1, () => keyAddress);
    await openWithKey(keyPage, coordinator.url, task.id, csv);
    keyAddress = await pageAddress(keyPage);
    await fund(keyAddress);

    // A browser wallet backed by a real key, on the task's chain.
    const walletKey = new Wallet(Wallet.createRandom().privateKey);
    await fund(walletKey.address);
    const walletPage = await (await browser.newContext()).newPage();
    const asked = await injectWallet(walletPage, walletKey, devnet.provider);
    await walletPage.goto(`${coordinator.url}/#/tasks/${task.id}/contribute`);
    await walletPage.getByRole('button', { name: 'Connect a browser wallet' }).click();
    await walletPage.getByText(`Wallet account ${walletKey.address} connected`).waitFor();
    await walletPage.getByLabel('Data file (CSV)').setInputFiles(csv);

    for (const page of [keyPage, walletPage]) {
      await page.getByRole('button', { name: 'I agree to these terms and contribute' }).click();
    }
    const nodeKey = join(dir, 'node-key.json');
    await fund(loadOrCreateWallet(nodeKey).address);
    const [node] = runClients(coordinator.url, task.id, writeShards(join(dir, 'node'), [300]), [nodeKey], {
      chain: { rpcUrl: devnet.chain.url, deployment: devnet.deployment },
    });
    // The page key's holder leaves once its last update is accepted and its omission claim answered, before anything
    // is claimed; the wallet's stays.
    const rewards = new RewardsContract(devnet.deployment.rewards, devnet.provider);
    await keyPage.locator('tr[data-round="2"][data-state="accepted"]').waitFor({ timeout: patienceSeconds * 1000 });
    await eventually(
      async () => ((await rewards.omission(taskKey(task.id), 1, keyAddress)) === 'answered' ? true : undefined),
      "the coordinator's answer to round 1's omission claim",
    );
    const keyContext = keyPage.context();
    await keyPage.close();
    // Both rounds closed on-chain: their windows pass.
    await eventually(
      async () => ((await rewards.events('RoundClosed', taskKey(task.id))).length === 2 ? true : undefined),
      'round 2 to close on-chain',
    );
    await devnet.provider.send('evm_increaseTime', [WINDOW_SECONDS + 1]);
    await devnet.provider.send('evm_mine', []);
    await walletPage.getByText(/The task is completed\. 2 of your updates were accepted\. Claimed on-chain/).waitFor({
      timeout: patienceSeconds * 1000,
    });
    expect((await node)!.rewards).to.include({ owed: 0, omitted: 0 });
    // Back after the task ended: the page unlocks the kept key and claims what its kept records say is owed.
    const returned = await keyContext.newPage();
    await returned.goto(`${coordinator.url}/#/tasks/${task.id}/contribute`);
    await returned.getByText('This task is completed: it takes no contributions.').waitFor();
    await returned.getByLabel('Password').fill('correct horse battery');
    await returned.getByRole('button', { name: 'Unlock the kept key' }).click();
    await returned.getByRole('button', { name: 'Claim what this key is owed' }).click();
    await returned.getByText(/The task is completed\. Claimed on-chain/).waitFor({ timeout: patienceSeconds * 1000 });
    // Its records export as the file `zkfl client` keeps beside its key: every round claimed, each with the receipt the
    // coordinator signed.
    const [download] = await Promise.all([
      returned.waitForEvent('download'),
      returned.getByRole('button', { name: 'Export what you are owed' }).click(),
    ]);
    expect(download.suggestedFilename()).to.equal(`settlement-${keyAddress}.json`);
    await download.saveAs(join(dir, 'exported-owed.json'));
    const exported = owedFile(join(dir, 'exported-owed.json')).load();
    const signer = (await api.info()).coordinator;
    expect(exported.map((entry) => [entry.round, entry.state, receiptSigner(entry.receipt)])).to.deep.equal([
      [1, 'claimed', signer],
      [2, 'claimed', signer],
    ]);

    const rounds = await getRounds(coordinator.url, task.id);
    const token = new TokenContract(devnet.deployment.token, devnet.provider);
    for (const address of [keyAddress, walletKey.address]) {
      expect(owedTo(rounds, address) > 0n).to.equal(true, `${address} is owed something`);
      // Paid its amount, and its stake back.
      expect(await token.balanceOf(address)).to.equal(stake + owedTo(rounds, address));
      expect(await rewards.stakeOf(taskKey(task.id), address)).to.equal(0n);
    }
    const staked = (await rewards.events('Staked', taskKey(task.id))).map((log) => String(log.args[1]));
    expect(staked).to.include.members([keyAddress, walletKey.address]);
    // Each page claimed both rounds in one transaction, and says so.
    const claims = await rewards.events('RewardClaimed', taskKey(task.id));
    for (const address of [keyAddress, walletKey.address]) {
      const own = claims.filter((log) => log.args[2] === address);
      expect([
        own.map((log) => Number(log.args[1])),
        new Set(own.map((log) => log.transactionHash)).size,
      ]).to.deep.equal([[1, 2], 1]);
    }
    for (const page of [returned, walletPage]) {
      const rows = await page.locator('tr[data-claim]').all();
      expect(await Promise.all(rows.map((row) => row.getAttribute('data-claim')))).to.deep.equal([
        'claimed',
        'claimed',
      ]);
      expect(await page.locator('section:has(h2:text-is("Rewards")) p[role]').textContent()).to.match(
        /holds [0-9.]+ ETH for the gas of its claims\. Paid so far: [0-9.]+ tokens\./,
      );
    }
    // The page shown a set without its update put its receipt on-chain; the coordinator showed the leaf, and the
    // page claimed it like any other.
    const omissions = await rewards.events('OmissionClaimed', taskKey(task.id));
    expect(omissions.map((log) => [Number(log.args[1]), String(log.args[2])])).to.deep.equal([[1, keyAddress]]);
    // The wallet was asked as a person would be: sign in, consent, then the claim.
    expect(asked).to.include.members(['personal_sign', 'eth_signTypedData_v4', 'eth_sendTransaction']);

    const [code, stdout, stderr] = await runZkfl([
      ...['verify', '--coordinator', coordinator.url, '--task', task.id, '--json'],
      ...['--rpc', devnet.chain.url, '--deployment', join(dir, 'deployment.json')],
    ]);
    expect(code, stderr).to.equal(0);
    expect(JSON.parse(stdout)).to.include({ ok: true, chainChecked: true });
  });

  it('refuses a wallet on another chain, and a declined consent: says so, sends the coordinator nothing, stays usable', async () => {
    const task = await createTask(coordinator.url, onchainTask(), owner);
    const walletKey = new Wallet(Wallet.createRandom().privateKey);
    const elsewhere = await (await browser.newContext()).newPage();
    await injectWallet(elsewhere, walletKey, devnet.provider, { chainId: 1 });
    const sent = recordSent(elsewhere);
    await elsewhere.goto(`${coordinator.url}/#/tasks/${task.id}/contribute`);
    await elsewhere.getByRole('button', { name: 'Connect a browser wallet' }).click();
    const chainId = Number((await devnet.provider.getNetwork()).chainId);
    await elsewhere
      .getByRole('alert')
      .filter({ hasText: `the wallet is on chain 1; switch it to chain ${chainId}, where this task pays` })
      .waitFor();
    expect(sentOut(sent, coordinator.url)).to.deep.equal([]);

    const declining = await (await browser.newContext()).newPage();
    const asked = await injectWallet(declining, walletKey, devnet.provider, { refuse: ['eth_signTypedData_v4'] });
    const declined = recordSent(declining);
    await declining.goto(`${coordinator.url}/#/tasks/${task.id}/contribute`);
    await declining.getByRole('button', { name: 'Connect a browser wallet' }).click();
    await declining.getByLabel('Data file (CSV)').setInputFiles(csv);
    const agree = declining.getByRole('button', { name: 'I agree to these terms and contribute' });
    await agree.click();
    await declining.getByRole('alert').filter({ hasText: 'No consent was signed' }).waitFor();
    // Usable: the holder may agree again (the wallet is asked again).
    expect(await agree.getAttribute('disabled')).to.equal(null);
    await agree.click();
    await eventually(
      () => Promise.resolve(asked.filter((method) => method === 'eth_signTypedData_v4').length === 2 || undefined),
      'the wallet to be asked again',
    );
    await declining.getByRole('alert').filter({ hasText: 'No consent was signed' }).waitFor();
    expect(sentOut(declined, coordinator.url)).to.deep.equal([]);
    expect((await new CoordinatorApi(coordinator.url).task(task.id)).connected).to.equal(0);
    for (const page of [elsewhere, declining]) await page.context().close();
  });

  it('says it cannot take part in an on-chain task whose coordinator names no public endpoint, and takes none', async () => {
    const hidden = await startTestCoordinator({
      dataRoot,
      port: 0,
      dataDir: join(dir, 'hidden'),
      chain: { rpcUrl: devnet.chain.url, deployment: devnet.deployment },
    });
    try {
      // Its pages may reach no origin but its own; the other coordinator's, the chain's public endpoint too.
      const connectSrc = async (url: string): Promise<string | undefined> =>
        /connect-src ([^;]*)/.exec((await fetch(url)).headers.get('content-security-policy')!)?.[1];
      expect(await connectSrc(hidden.url)).to.equal("'self'");
      expect(await connectSrc(coordinator.url)).to.equal(`'self' ${new URL(devnet.chain.url).origin}`);
      const task = await createTask(hidden.url, onchainTask(), owner);
      const page = await browser.newPage();
      await page.goto(`${hidden.url}/#/tasks/${task.id}/contribute`);
      await page.getByRole('alert').filter({ hasText: 'names no public endpoint of its chain' }).waitFor();
      expect(await page.getByRole('button', { name: /I agree|Claim/ }).count()).to.equal(0);
      await page.close();
    } finally {
      await hidden.close();
    }
  });
});
