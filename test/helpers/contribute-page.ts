/** Driving the contributor page (web/pages/contribute.ts) in a test: what it sends, a key made in it, its address. */
import type { Page } from 'playwright-core';

/** Everything the page and its workers send: each request (URL and body), and each WebSocket frame. */
export function recordSent(page: Page): { requests: string[]; frames: Array<string | Buffer> } {
  const sent = { requests: [] as string[], frames: [] as Array<string | Buffer> };
  page.on('request', (request) =>
    sent.requests.push(`${request.method()} ${request.url()} ${request.postData() ?? ''}`),
  );
  page.on('websocket', (socket) => socket.on('framesent', ({ payload }) => sent.frames.push(payload)));
  return sent;
}

/**
 * What the page sent that is not loading it: any request other than a GET (only those to `origin`, when given: an
 * on-chain task's page also reads the chain), and any WebSocket frame.
 */
export const sentOut = (sent: ReturnType<typeof recordSent>, origin?: string): Array<string | Buffer> => [
  ...sent.requests.filter(
    (request) => !request.startsWith('GET ') && (!origin || request.split(' ')[1]!.startsWith(origin)),
  ),
  ...sent.frames,
];

/** Opens the task's contributor page with a fresh key made in it and the CSV file picked. */
export async function openWithKey(page: Page, url: string, taskId: string, csv: string): Promise<void> {
  await page.goto(`${url}/#/tasks/${taskId}/contribute`);
  await page.getByLabel('Password').fill('correct horse battery');
  await page.getByRole('button', { name: 'Create a new key' }).click();
  await page.getByText(/unlocked for this visit/).waitFor({ timeout: 60_000 });
  await page.getByLabel('Data file (CSV)').setInputFiles(csv);
  await page.getByText(/examples of 784 features, checked against the task/).waitFor();
}

/** Saves the page's kept keystore to `path` through its export button. */
export async function exportKeystore(page: Page, path: string): Promise<void> {
  const [download] = await Promise.all([
    page.waitForEvent('download'),
    page.getByRole('button', { name: 'Export the keystore' }).click(),
  ]);
  await download.saveAs(path);
}

/** The address of the key the page unlocked, as it says. */
export async function pageAddress(page: Page): Promise<string> {
  const said = await page.getByText(/unlocked for this visit/).textContent({ timeout: 60_000 });
  return /Key (0x[0-9a-fA-F]{40}) unlocked/.exec(said!)![1]!;
}
