/**
 * The dashboard in a real browser (Debian's chromium, driven by playwright-core): after a real small run — real
 * clients, proofs on — the task page plots and lists every finished round, and a round that closes while the page
 * is open appears without a reload. Every asset comes from the coordinator.
 */
import { expect } from 'chai';
import { join } from 'node:path';
import { getBytes, Wallet } from 'ethers';
import type { Browser, Page } from 'playwright-core';
import { CoordinatorApi } from '../../protocol/api.js';
import type { AuditBundle } from '../../protocol/audit.js';
import type { RunningCoordinator } from '../../coordinator/server.js';
import { runClients } from '../helpers/clients.js';
import { dataRoot, smallTask, testPrefix, writeShards } from '../helpers/fixtures.js';
import { createTask } from '../helpers/rest.js';
import { tempDir } from '../helpers/temp.js';
import { startTestBrowser, startTestCoordinator } from '../helpers/servers.js';

/** Finished rounds as the page shows them: plotted points, and rows of the rounds table whose phase is final. */
async function finishedRounds(page: Page): Promise<[number, number]> {
  const points = Number(await page.getAttribute('figure.plot', 'data-points'));
  const rows = await page.locator('h2:text-is("Rounds") + div tbody tr').allTextContents();
  return [points, rows.filter((row) => row.includes('evaluated')).length];
}

describe('the dashboard, in a browser', function () {
  const dir = tempDir();
  let coordinator: RunningCoordinator;
  let browser: Browser;
  /** The finished run of the first test, verified by the next. */
  let finished: { id: string; proofsPerUpdate: number } | undefined;

  before(async () => {
    coordinator = await startTestCoordinator({ dataRoot, port: 0, dataDir: join(dir, 'coordinator') });
    browser = await startTestBrowser();
  });
  after(async () => {
    await browser?.close();
    await coordinator?.close();
  });

  it('plots and lists each round as it closes, without a reload, from the coordinator alone', async () => {
    const task = await createTask(coordinator.url, smallTask({ name: 'dashboard run', rounds: 2 }));
    const page = await browser.newPage();
    const requested: string[] = [];
    const problems: string[] = [];
    page.on('request', (request) => requested.push(request.url()));
    page.on('pageerror', (error) => problems.push(error.message));
    page.on('console', (message) => void (message.type() === 'error' && problems.push(message.text())));

    await page.goto(`${coordinator.url}/`);
    // The list says how long round 1 still waits for updates, counting down, and who is connected (nobody yet).
    const row = page.locator('tr', { has: page.getByRole('link', { name: task.id }) });
    expect(await row.locator('[data-deadline]').textContent()).to.match(/^\d+ s$/);
    expect(await row.locator('td').nth(5).textContent()).to.equal('0');
    await page.getByRole('link', { name: task.id }).click();
    await page.getByRole('heading', { name: /dashboard run/ }).waitFor();
    expect(await finishedRounds(page)).to.deep.equal([0, 0]);

    const clients = runClients(coordinator.url, task.id, writeShards(dir, [300, 300]), [
      join(dir, 'a.json'),
      join(dir, 'b.json'),
    ]);
    // Round 1 closes while the page is open: it appears without a reload.
    await page.locator('figure.plot[data-points="1"]').waitFor({ timeout: 120_000 });
    expect(await finishedRounds(page)).to.deep.equal([1, 1]);
    await Promise.all(clients);
    await page.locator('figure.plot[data-points="2"]').waitFor({ timeout: 60_000 });
    expect(await finishedRounds(page)).to.deep.equal([2, 2]);
    // Round 1's row: both clients sampled and answered, none dropped, both accepted, their proofs and the time.
    const cells = await page.locator('h2:text-is("Rounds") + div tbody tr').first().locator('td').allTextContents();
    expect(cells.slice(4, 11)).to.deep.equal(['2', '2', '0', '2', '0', String(2 * task.zk.chunks), '0']);
    expect(cells[11]).to.match(/^\d+\.\d\d s$/);
    expect(cells[11]).not.to.equal('0.00 s');
    expect(await page.locator('span.status-completed').count()).to.equal(1);
    expect(await page.locator('h2:text-is("Participants") + div tbody tr').count()).to.equal(2);
    const { termsHash } = await new CoordinatorApi(coordinator.url).terms(task.id);
    expect(await page.locator('h2:text-is("Terms") + ul').textContent()).to.include(termsHash);

    // A participant's own page: the task it agreed to, both rounds it contributed, what they pay it.
    const [first] = await Promise.all(clients);
    await page.getByRole('link', { name: `${first!.address.slice(0, 8)}…${first!.address.slice(-4)}` }).click();
    await page.getByRole('heading', { name: /Data holder/ }).waitFor();
    const tasksRow = await page.locator('h2:text-is("Tasks") + div tbody tr').allTextContents();
    expect(tasksRow).to.have.length(1);
    expect(tasksRow[0]).to.include(task.id);
    expect(await page.locator('h2:text-is("Contributions") + div tbody tr').count()).to.equal(2);
    const holder = await new CoordinatorApi(coordinator.url).holder(first!.address.toLowerCase());
    expect([holder.address, holder.tasks[0]!.rounds.map((r) => r.round)]).to.deep.equal([first!.address, [1, 2]]);
    expect(holder.tasks[0]!.consent?.termsHash).to.match(/^0x[0-9a-f]{64}$/);
    const refused = await new CoordinatorApi(coordinator.url)
      .holder('nobody')
      .catch((error: { code: string }) => error);
    expect(refused).to.have.property('code', 'VALIDATION_FAILED');

    expect(requested.filter((url) => !url.startsWith(coordinator.url))).to.deep.equal([]);
    expect(problems).to.deep.equal([]);
    await page.close();
    finished = { id: task.id, proofsPerUpdate: task.zk.chunks };
  });

  it('verifies the run in the browser, and names the proof a served bundle changed', async () => {
    // Depends on the run of the test above: without it this one fails too, rather than be skipped.
    if (!finished) throw new Error('no finished run: the test above failed');
    const { id, proofsPerUpdate } = finished;
    const verdictOf = async (page: Page): Promise<{ verdict: string | null; rows: string[][] }> => {
      await page.goto(`${coordinator.url}/#/tasks/${id}`);
      await page.getByRole('link', { name: 'Verify this run' }).click();
      const verdict = await page.locator('[data-verdict]').getAttribute('data-verdict', { timeout: 120_000 });
      const tables = page.locator('main table');
      const rows: string[][] = [];
      for (let i = 0; i < (await tables.count()); i++)
        rows.push(await tables.nth(i).locator('tbody tr').allTextContents());
      return { verdict, rows };
    };
    const page = await browser.newPage();
    const problems: string[] = [];
    page.on('pageerror', (error) => problems.push(error.message));
    page.on('console', (message) => void (message.type() === 'error' && problems.push(message.text())));
    const clean = await verdictOf(page);
    expect(clean.verdict).to.equal('ok');
    // Only the per-round table: round, accepted, rejected, proofs verified (2 updates × chunks), …
    expect(clean.rows).to.have.length(1);
    expect(clean.rows[0]!.map((row) => row.slice(0, 4))).to.deep.equal([
      `120${2 * proofsPerUpdate}`,
      `220${2 * proofsPerUpdate}`,
    ]);
    expect(problems).to.deep.equal([]);

    // The coordinator (here, the network) serves a bundle with one proof changed: the page names it.
    const changed = await browser.newPage();
    let victim = '';
    await changed.route('**/api/audit/tasks/**', async (route) => {
      const bundle = (await (await route.fetch()).json()) as AuditBundle;
      const update = bundle.rounds[1]!.record.accepted[0]!;
      const a = update.proofs[0]!.proof.pi_a;
      a[0] = String(BigInt(a[0]!) + 1n);
      victim = update.address;
      await route.fulfill({ json: bundle });
    });
    const tampered = await verdictOf(changed);
    expect(tampered.verdict).to.equal('failed');
    // The record carries the proof, so its signature breaks too.
    expect(tampered.rows[0]).to.have.length(2);
    expect(tampered.rows[0]![0]).to.match(/^2signaturethe record is not signed by the coordinator/);
    expect(tampered.rows[0]![1]).to.equal(`2proof${victim} chunk 0: the proof does not verify`);
    await Promise.all([page.close(), changed.close()]);
  });

  it('shows task names as text, never as markup', async () => {
    const name = '<img src=x onerror="document.title=\'owned\'">';
    const task = await createTask(coordinator.url, smallTask({ name, rounds: 1 }));
    const page = await browser.newPage();
    await page.goto(`${coordinator.url}/#/tasks/${task.id}`);
    await page.getByRole('heading', { name: /img src=x/ }).waitFor();
    expect([await page.title(), await page.locator('main img').count()]).to.deep.equal(['zkfl', 0]);
    await page.close();
  });

  it('shows why a task ended, and what its rounds noted', async () => {
    const task = await createTask(
      coordinator.url,
      smallTask({ rounds: 1, roundDeadlineSeconds: 1, clientsPerRound: { min: 1, target: 1, whenShort: 'end' } }),
    );
    const page = await browser.newPage();
    await page.goto(`${coordinator.url}/#/tasks/${task.id}`);
    const why = 'round 1 had 0 of at least 1 updates by the deadline, and no connected client left to ask';
    await page.getByText(`Ended: ${why} (clientsPerRound.whenShort: end)`).waitFor();
    expect(await page.locator('.notes li').allTextContents()).to.deep.equal([`round 1: ${why}`]);
    await page.close();
  });

  it("shows a private task's ε in each round and in its terms, and a holder's privacy ledger", async () => {
    const privacy = { delta: 1e-5, noiseMultiplier: 2, population: 2 };
    const task = await createTask(
      coordinator.url,
      smallTask({ rounds: 1, aggregation: { replicaDistance: 0, contributorsOnly: false }, privacy }),
    );
    const [holder] = await Promise.all(
      runClients(coordinator.url, task.id, writeShards(join(dir, 'private'), [200, 200]), [
        join(dir, 'private-a.json'),
        join(dir, 'private-b.json'),
      ]),
    );
    const [round] = await new CoordinatorApi(coordinator.url).rounds(task.id);
    const page = await browser.newPage();
    await page.goto(`${coordinator.url}/#/tasks/${task.id}`);
    await page.locator('figure.plot[data-points="1"]').waitFor();
    const table = page.locator('h2:text-is("Rounds") + div table');
    expect(await table.locator('th').nth(4).textContent()).to.equal('ε (δ 0.00001)');
    expect(await table.locator('tbody tr td').nth(4).textContent()).to.equal(round!.epsilon!.toFixed(3));
    expect(await page.locator('h2:text-is("Terms") + ul').textContent()).to.match(/privacy: user-level DP, ε ≈ \d/);
    await page.goto(`${coordinator.url}/#/holders/${holder!.address}`);
    const ledger = await page.locator('[data-privacy-ledger]').textContent();
    expect(ledger).to.include(`ε ${round!.epsilon!.toFixed(3)}, δ 0.00001`);
    await page.close();
  });

  describe('the owner form', () => {
    it('shows each field error from the API schema, and sends nothing', async () => {
      const page = await browser.newPage();
      const posted: string[] = [];
      page.on('request', (request) => void (request.method() === 'POST' && posted.push(request.url())));
      await page.goto(`${coordinator.url}/#/new`);
      await page.getByLabel('Rounds').fill('0');
      await page.getByLabel('Clients per round: at least').fill('5');
      await page.getByLabel('Clients per round: sampled').fill('2');
      await page.getByLabel('Reward per round (tokens)').fill('lots');
      await page.getByLabel('Open only to these holders').fill('alice');
      await page.getByRole('button', { name: 'Sign in and create' }).click();
      const errorOf = (field: string): Promise<string | null> =>
        page.locator(`[data-error-for="${field}"]`).textContent();
      expect(await errorOf('rounds')).to.match(/>0/);
      expect(await errorOf('clientsPerRound.target')).to.equal('target must be >= min');
      expect(await errorOf('rewards.perRound')).to.match(/amount of tokens/);
      expect(await errorOf('evaluation')).to.equal('choose the evaluation set');
      expect(await errorOf('holders')).to.equal('expected an Ethereum address');
      expect(await errorOf('name')).to.equal('');
      expect(await page.getByLabel('Rounds').getAttribute('aria-invalid')).to.equal('true');
      expect(posted).to.deep.equal([]);
      await page.close();
    });

    it("signs in with the browser's wallet, uploads the evaluation set and creates the task", async () => {
      const wallet = new Wallet(Wallet.createRandom().privateKey);
      const page = await browser.newPage();
      // A minimal EIP-1193 wallet: the page asks, the key here signs (personal_sign of the sign-in message).
      await page.exposeFunction('zkflTestSign', (hex: string) => wallet.signMessage(getBytes(hex)));
      // As source text: a function would be serialized with the test runner's transpiler helpers in it.
      await page.addInitScript(`window.ethereum = {
        request: async ({ method, params }) => {
          if (method === 'eth_chainId') return '0x1';
          if (method === 'eth_requestAccounts' || method === 'eth_accounts') return ['${wallet.address}'];
          if (method === 'personal_sign') return window.zkflTestSign(params[0]);
          throw new Error('unsupported ' + method);
        },
      };`);
      await page.goto(`${coordinator.url}/#/new`);
      await page.getByLabel('Name').fill('from the browser');
      await page.getByLabel('Model').selectOption('mlp');
      await page.getByLabel('Dense layers').fill('');
      await page.getByLabel('Input shape').fill('28,28');
      await page.getByLabel('Rounds').fill('1');
      await page.getByLabel('Clients per round: at least').fill('1');
      await page.getByLabel('Clients per round: sampled').fill('1');
      await page.getByLabel('Require a proof of every update').uncheck();
      // A task for known holders: the owner's own address, one per line.
      await page.getByLabel('Open only to these holders').fill(`${wallet.address}\n`);
      await page
        .getByLabel('Evaluation set')
        .setInputFiles([`${testPrefix}-images-idx3-ubyte.gz`, `${testPrefix}-labels-idx1-ubyte.gz`]);
      await page.getByRole('button', { name: 'Sign in and create' }).click();
      await page.getByRole('heading', { name: /from the browser/ }).waitFor({ timeout: 30_000 });
      const id = decodeURIComponent(page.url().split('#/tasks/')[1]!);
      const task = await new CoordinatorApi(coordinator.url).task(id);
      expect([task.spec.owner, task.spec.proofs, task.numParams]).to.deep.equal([wallet.address, false, 7850]);
      expect(task.spec.holders).to.deep.equal([wallet.address]);
      expect(task.spec.evaluation.upload).to.match(/^[0-9a-f]{64}$/);
      await page.close();
    });
  });
});
