/**
 * The servers tests start in-process — coordinators, local chains, chromium — each stopped at the end of the file
 * that started it, whatever happened in it (test/helpers/cleanup.ts); a test may stop one earlier itself.
 */
import type { Browser } from 'playwright-core';
import { type RunningCoordinator, startCoordinator } from '../../coordinator/server.js';
import type { CoordinatorOptions } from '../../coordinator/options.js';
import { type Devnet, startDevnet } from '../../contracts/devnet.js';
import { launchChromium } from './chromium.js';
import { stopAfter } from './cleanup.js';

export async function startTestCoordinator(options: Partial<CoordinatorOptions> = {}): Promise<RunningCoordinator> {
  const running = await startCoordinator(options);
  return { ...running, close: stopAfter('file', () => running.close()) };
}

export async function startTestDevnet(...args: Parameters<typeof startDevnet>): Promise<Devnet> {
  const devnet = await startDevnet(...args);
  return { ...devnet, stop: stopAfter('file', () => devnet.stop()) };
}

export async function startTestBrowser(): Promise<Browser> {
  const browser = await launchChromium();
  stopAfter('file', () => browser.close());
  return browser;
}
