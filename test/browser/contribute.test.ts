/**
 * The contributor page in a real browser (Debian's chromium): a data holder reads the terms, keeps a key in the page,
 * picks a CSV file and agrees; the page's Web Worker trains, proves and sends each round beside a Node client, on a
 * real coordinator with proofs on. Nothing of the data leaves the page, and each bad input is said in the page and
 * sends nothing.
 */
import { expect } from 'chai';
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Wallet } from 'ethers';
import type { Browser } from 'playwright-core';
import { OwnerSession } from '../../client/owner.js';
import { loadWallet, saveWallet, setKeystoreCost } from '../../common/identity.js';
import type { RunningCoordinator } from '../../coordinator/server.js';
import { loadDataset } from '../../ml/dataset.js';
import { CoordinatorApi } from '../../protocol/api.js';
import { renderTerms } from '../../protocol/terms-text.js';
import { runClients } from '../helpers/clients.js';
import { dataRoot, smallTask, writeCsv, writeImageFolder, writeShards } from '../helpers/fixtures.js';
import { createTask, patienceSeconds } from '../helpers/rest.js';
import { startTestBrowser, startTestCoordinator } from '../helpers/servers.js';
import { freePort } from '../helpers/ports.js';
import { tempDir } from '../helpers/temp.js';
import { exportKeystore, openWithKey, pageAddress, recordSent, sentOut } from '../helpers/contribute-page.js';

describe('the contributor page, in a browser', function () {
  const dir = tempDir();
  let coordinator: RunningCoordinator;
  let browser: Browser;
  let csv: string;

  before(async () => {
    coordinator = await startTestCoordinator({ dataRoot, port: 0, dataDir: join(dir, 'coordinator') });
    browser = await startTestBrowser();
    csv = writeCsv(join(dir, 'holder.csv'), 300, 2000);
  });
  after(async () => {
    await browser?.close();
    await coordinator?.close();
  });

  it('takes part from the page: terms, a page key, consent, training and proving in a worker, a receipt a round', async () => {
    const task = await createTask(coordinator.url, smallTask({ name: 'page run', rounds: 2 }));
    const page = await browser.newPage();
    const sent = recordSent(page);
    const problems: string[] = [];
    page.on('pageerror', (error) => problems.push(error.message));
    const logged: string[] = [];
    page.on('console', (message) => logged.push(message.text()));
    await openWithKey(page, coordinator.url, task.id, csv);
    // Served cross-origin isolated, so TF.js trains on WebAssembly threads in the worker.
    expect(await page.evaluate('crossOriginIsolated')).to.equal(true);
    // The terms, exactly as `zkfl client` shows them.
    const terms = await new CoordinatorApi(coordinator.url).terms(task.id);
    expect(await page.locator('pre.terms').textContent()).to.equal(renderTerms(terms));

    await page.getByRole('button', { name: 'I agree to these terms and contribute' }).click();
    // Beside it, a Node client reading a folder of images: one task takes contributors of both kinds.
    const images = writeImageFolder(writeShards(join(dir, 'node'), [300])[0]!, join(dir, 'node-images'));
    const [node] = runClients(coordinator.url, task.id, [images], [join(dir, 'a.json')]);
    await page.getByText(/The task is completed/).waitFor({ timeout: patienceSeconds * 1000 });
    const rows = await Promise.all(
      (await page.locator('table[data-rounds] tbody tr').all()).map(async (row) => [
        await row.getAttribute('data-round'),
        await row.getAttribute('data-state'),
      ]),
    );
    expect(rows).to.deep.equal([
      ['1', 'accepted'],
      ['2', 'accepted'],
    ]);
    expect(await page.locator('table[data-rounds] tbody tr').first().textContent()).to.match(
      /receipt for commitment 0x/,
    );
    await node;
    // The coordinator took both rounds from the page's key, with its consent to these terms.
    const holder = await new CoordinatorApi(coordinator.url).holder(await pageAddress(page));
    expect(holder.tasks[0]!.rounds.map((round) => round.round)).to.deep.equal([1, 2]);
    expect(holder.tasks[0]!.consent?.termsHash).to.equal(terms.termsHash);
    // The recording saw the worker's traffic (its updates went out as frames), and none of it carried the data: no
    // piece of a row as text, nor of an example as float32 bytes.
    expect(sent.frames.filter((frame) => String(frame).includes('"update"'))).to.have.length(2);
    const row = readFileSync(csv, 'utf8').split('\n')[0]!;
    const text = row.slice(row.length / 2, row.length / 2 + 48);
    const example = loadDataset(csv);
    const bytes = Buffer.from(example.features.buffer, 392 * 4, 16 * 4);
    const carried = [...sent.requests, ...sent.frames].filter(
      (item) => String(item).includes(text) || (Buffer.isBuffer(item) && item.includes(bytes)),
    );
    expect(carried).to.deep.equal([]);
    expect(problems).to.deep.equal([]);
    expect(logged.filter((line) => line.includes('TF.js backend: wasm'))).to.have.length(1);
    expect(logged.find((line) => line.includes('TF.js backend: wasm'))).to.match(/simd=true threads=true/);
    await page.close();
  });

  it('can be used with the keyboard alone, on a narrow screen', async () => {
    const task = await createTask(coordinator.url, smallTask({ name: 'keyboard' }));
    const context = await browser.newContext({ viewport: { width: 360, height: 740 } });
    const page = await context.newPage();
    await page.goto(`${coordinator.url}/#/tasks/${task.id}/contribute`);
    await page.locator('pre.terms').waitFor();
    // Nothing is wider than the screen but inside a box that scrolls (the rounds table): the page never scrolls
    // sideways, by so much as a pixel.
    const overflowing = (): Promise<unknown> =>
      page.evaluate('document.documentElement.scrollWidth - window.innerWidth');
    expect(await overflowing()).to.equal(0);
    /** Presses Tab until the control named `name` (its label, or its text) has the focus. */
    const tabTo = async (name: string): Promise<void> => {
      for (let presses = 0; presses < 40; presses++) {
        await page.keyboard.press('Tab');
        const focused = await page.evaluate(
          'document.activeElement?.labels?.[0]?.textContent ?? document.activeElement?.textContent',
        );
        if (focused === name) return;
      }
      throw new Error(`Tab never reached ${name}`);
    };
    // No key kept: typing a password and Enter makes one.
    await tabTo('Password');
    await page.keyboard.type('correct horse battery');
    await page.keyboard.press('Enter');
    await page.getByText(/unlocked for this visit/).waitFor({ timeout: 60_000 });
    // The file picker opens from the keyboard.
    await tabTo('Data file (CSV)');
    const [chooser] = await Promise.all([page.waitForEvent('filechooser'), page.keyboard.press('Space')]);
    await chooser.setFiles(csv);
    await page.getByText(/examples of 784 features, checked against the task/).waitFor();
    await tabTo('I agree to these terms and contribute');
    await page.keyboard.press('Enter');
    await page.getByText(/Joined in round 1/).waitFor();
    expect(await overflowing()).to.equal(0);
    await context.close();
  });

  it('says what is wrong with bad data in the page, keeps it usable, and sends nothing', async () => {
    const task = await createTask(coordinator.url, smallTask({ name: 'bad data' }));
    const page = await browser.newPage();
    const sent = recordSent(page);
    await page.goto(`${coordinator.url}/#/tasks/${task.id}/contribute`);
    const said = async (files: string, input = 'Data file (CSV)'): Promise<string> => {
      await page.getByLabel(input).setInputFiles(files);
      await page
        .locator(
          'section:has(h2:text-is("Your data")) [role=alert], section:has(h2:text-is("Your data")) .muted[role=status]:text-matches("examples")',
        )
        .waitFor();
      return (await page.locator('section:has(h2:text-is("Your data")) p[role]').textContent())!;
    };
    const write = (name: string, text: string | Buffer): string => {
      const path = join(dir, 'bad', name);
      mkdirSync(join(path, '..'), { recursive: true });
      writeFileSync(path, text);
      return path;
    };
    expect(await said(write('malformed.csv', '0.1,0.2,3\n0.1,oops,4\n'))).to.match(/^DATA_MALFORMED: .*malformed\.csv/);
    expect(await said(write('narrow.csv', '0.1,0.2,3\n0.3,0.4,1\n'))).to.match(/^DATA_MALFORMED: /);
    // A folder of images: one that reads, then one whose classes the task does not have, then one with a broken image.
    const folder = writeImageFolder(writeShards(join(dir, 'folder'), [20])[0]!, join(dir, 'bad', 'good-folder'));
    expect(await said(folder, 'Or a folder of images')).to.equal(
      '20 examples of 784 features, checked against the task.',
    );
    // No key yet: the agreement waits for one.
    expect(await page.getByRole('button', { name: /I agree/ }).getAttribute('disabled')).to.equal('');
    write(
      'extra-class/12/a.png',
      readFileSync(join(folder, readdirSync(folder)[0]!, readdirSync(join(folder, readdirSync(folder)[0]!))[0]!)),
    );
    expect(await said(join(dir, 'bad', 'extra-class'), 'Or a folder of images')).to.match(
      /^DATA_MALFORMED: class folder 12 would be label 12; the task has 10 classes/,
    );
    write('broken/3/a.png', 'not a png');
    expect(await said(join(dir, 'bad', 'broken'), 'Or a folder of images')).to.match(
      /^DATA_MALFORMED: broken\/3\/a\.png is not a readable/,
    );
    // The page is still usable: a good file after the bad ones reads.
    expect(await said(csv)).to.equal('300 examples of 784 features, checked against the task.');
    expect(sentOut(sent)).to.deep.equal([]);
    await page.close();
  });

  it('refuses to take part when the holder declines the terms: no consent, no connection', async () => {
    const task = await createTask(coordinator.url, smallTask({ name: 'declined' }));
    const page = await browser.newPage();
    const sent = recordSent(page);
    await openWithKey(page, coordinator.url, task.id, csv);
    await page.getByRole('button', { name: 'I do not agree' }).click();
    await page.getByText(/You did not agree to the terms: nothing was sent/).waitFor();
    expect(await page.getByRole('button', { name: /I agree/ }).getAttribute('disabled')).to.equal('');
    expect(sentOut(sent)).to.deep.equal([]);
    const view = await new CoordinatorApi(coordinator.url).task(task.id);
    expect([view.status, view.connected]).to.deep.equal(['running', 0]);
    await page.close();
  });

  it('says a key the task does not name cannot take part, and asks for no consent', async () => {
    const named = new Wallet(Wallet.createRandom().privateKey);
    const task = await createTask(coordinator.url, smallTask({ name: 'known holders', holders: [named.address] }));
    const page = await browser.newPage();
    const sent = recordSent(page);
    await openWithKey(page, coordinator.url, task.id, csv);
    const refusal = page.getByRole('alert').filter({ hasText: 'is not one of them: use a key the owner named' });
    await refusal.waitFor();
    const agree = page.getByRole('button', { name: /I agree/ });
    expect(await agree.getAttribute('disabled')).to.equal('');
    expect(sentOut(sent)).to.deep.equal([]);
    const view = await new CoordinatorApi(coordinator.url).task(task.id);
    expect([view.status, view.connected]).to.deep.equal(['running', 0]);
    // The named key, imported in its place, may agree, and the refusal is gone.
    setKeystoreCost(10);
    saveWallet(join(dir, 'named-key.json'), named, 'named password');
    await exportKeystore(page, join(dir, 'refused-key.json'));
    await page.getByLabel('Import a keystore').setInputFiles(join(dir, 'named-key.json'));
    await page.getByLabel('Password').fill('named password');
    await page.getByRole('button', { name: 'Unlock the kept key' }).click();
    await page.getByText(`Key ${named.address} unlocked for this visit.`).waitFor();
    expect(await agree.getAttribute('disabled')).to.equal(null);
    expect(await refusal.count()).to.equal(0);
    await page.close();
  });

  it('keeps the same keystore as `zkfl key`: imports one, refuses a wrong password, exports one Node unlocks', async () => {
    const task = await createTask(coordinator.url, smallTask({ name: 'keys' }));
    setKeystoreCost(10);
    const nodeKey = Wallet.createRandom();
    saveWallet(join(dir, 'node-key.json'), new Wallet(nodeKey.privateKey), 'node password');
    const page = await browser.newPage();
    const sent = recordSent(page);
    await page.goto(`${coordinator.url}/#/tasks/${task.id}/contribute`);
    await page.getByLabel('Import a keystore').setInputFiles(join(dir, 'node-key.json'));
    await page.getByText(`Keystore of ${nodeKey.address} kept in this browser`).waitFor();
    await page.getByLabel('Password').fill('not the password');
    await page.getByRole('button', { name: 'Unlock the kept key' }).click();
    await page.getByRole('alert').filter({ hasText: 'wrong password' }).waitFor();
    // Still usable: the right password unlocks it.
    await page.getByLabel('Password').fill('node password');
    await page.getByRole('button', { name: 'Unlock the kept key' }).click();
    await page.getByText(`Key ${nodeKey.address} unlocked for this visit.`).waitFor();
    // A new key would replace the kept one: refused until the kept one is exported.
    await page.getByLabel('Password').fill('page password');
    await page.getByRole('button', { name: 'Create a new key' }).click();
    await page
      .getByRole('alert')
      .filter({ hasText: `a key (${nodeKey.address}) is kept in this browser` })
      .waitFor();
    await exportKeystore(page, join(dir, 'node-exported.json'));
    expect(loadWallet(join(dir, 'node-exported.json'), 'node password').address).to.equal(nodeKey.address);
    // A key made in the page, exported, unlocks in Node with its password.
    await page.getByRole('button', { name: 'Create a new key' }).click();
    await page
      .getByText(/unlocked for this visit/)
      .filter({ hasNotText: nodeKey.address })
      .waitFor({ timeout: 60_000 });
    const made = await pageAddress(page);
    await exportKeystore(page, join(dir, 'exported.json'));
    expect(loadWallet(join(dir, 'exported.json'), 'page password').address).to.equal(made);
    expect(sentOut(sent)).to.deep.equal([]);
    await page.close();
  });

  it('says a cancelled task takes no contributions', async () => {
    const owner = Wallet.createRandom();
    const task = await createTask(coordinator.url, smallTask({ name: 'cancelled' }), owner);
    await (await OwnerSession.open(coordinator.url, owner)).cancelTask(task.id);
    const page = await browser.newPage();
    const sent = recordSent(page);
    await page.goto(`${coordinator.url}/#/tasks/${task.id}/contribute`);
    await page.getByRole('alert').filter({ hasText: 'This task is cancelled: it takes no contributions.' }).waitFor();
    expect(await page.getByRole('button', { name: /I agree/ }).count()).to.equal(0);
    expect(sentOut(sent)).to.deep.equal([]);
    await page.close();
  });

  it('resumes after a reload mid-task with its kept key, consent and receipts, sending no round twice', async () => {
    const task = await createTask(coordinator.url, smallTask({ name: 'reloaded', rounds: 3 }));
    const page = await browser.newPage();
    const sent = recordSent(page);
    await openWithKey(page, coordinator.url, task.id, csv);
    await page.getByRole('button', { name: 'I agree to these terms and contribute' }).click();
    // Round 1 takes two updates: it stays open, with the page's accepted, until the Node client sends its own.
    await page.locator('tr[data-round="1"][data-state="accepted"]').waitFor({ timeout: patienceSeconds * 1000 });
    await page.reload();
    // The reloaded page shows round 1's receipt and resumes under the consent it kept: no second agreement, and no
    // second update for round 1, still open while it waits for the Node client.
    await page.getByLabel('Password').fill('correct horse battery');
    await page.getByRole('button', { name: 'Unlock the kept key' }).click();
    await page.locator('tr[data-round="1"][data-state="accepted"]').waitFor();
    await page.getByLabel('Data file (CSV)').setInputFiles(csv);
    await page.getByRole('button', { name: 'Resume: this key agreed to these terms' }).click();
    await page.getByText(/Joined in round 1/).waitFor();
    const [node] = runClients(coordinator.url, task.id, writeShards(join(dir, 'reload-node'), [300]), [
      join(dir, 'reload-node.json'),
    ]);
    await page.getByText(/The task is completed/).waitFor({ timeout: patienceSeconds * 1000 });
    await node;
    const holder = await new CoordinatorApi(coordinator.url).holder(await pageAddress(page));
    expect(holder.tasks[0]!.rounds.map((round) => round.round)).to.deep.equal([1, 2, 3]);
    // Across both visits: one update a round, none refused.
    expect(sent.frames.filter((frame) => String(frame).includes('"update"'))).to.have.length(3);
    expect(holder.rejections).to.equal(0);
    expect(await page.locator('tr[data-state="rejected"]').count()).to.equal(0);
    await page.close();
  });

  it('keeps trying while its coordinator is away mid-task, and takes part again once it is back', async () => {
    const restarting = { dataRoot, port: await freePort(), dataDir: join(dir, 'restarting') };
    const first = await startTestCoordinator(restarting);
    const task = await createTask(first.url, smallTask({ name: 'restarted', rounds: 3 }));
    const page = await browser.newPage();
    await openWithKey(page, first.url, task.id, csv);
    await page.getByRole('button', { name: 'I agree to these terms and contribute' }).click();
    const [node] = runClients(first.url, task.id, writeShards(join(dir, 'restart-node'), [300]), [
      join(dir, 'restart-node.json'),
    ]);
    await page.locator('tr[data-round="1"][data-state="accepted"]').waitFor({ timeout: patienceSeconds * 1000 });
    await first.close();
    await page.getByText('The connection to the coordinator dropped: reconnecting…').waitFor();
    const second = await startTestCoordinator(restarting);
    await page.getByText(/The task is completed/).waitFor({ timeout: patienceSeconds * 1000 });
    await node;
    const holder = await new CoordinatorApi(second.url).holder(await pageAddress(page));
    expect(holder.tasks[0]!.rounds.map((round) => round.round)).to.deep.equal([1, 2, 3]);
    expect(await page.locator('tr[data-state="rejected"]').count()).to.equal(0);
    await page.close();
    await second.close();
  });
});
