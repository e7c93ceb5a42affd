/**
 * Regenerates the README's screenshots of the dashboard: runs the demo (as `npx zkfl demo` does) and, while its
 * coordinator is still up, photographs the task list, the task's page and its verification ("verify this run") in
 * Debian's chromium.
 * `ZKFL_PTAU=… node --import tsx scripts/screenshots.ts` → docs/screenshots/*.png
 */
import { mkdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { runDemo } from '../demo/demo.js';
import { defaultFashionMnistDir } from '../demo/fashion-mnist.js';
import { launchChromium } from '../test/helpers/chromium.js';

const out = fileURLToPath(new URL('../docs/screenshots/', import.meta.url));
mkdirSync(out, { recursive: true });

await runDemo({
  model: 'demo-cnn',
  clients: 4,
  rounds: 5,
  alpha: 0.5,
  seed: 1,
  dataDir: process.env.ZKFL_FASHION_MNIST ?? defaultFashionMnistDir,
  ptau: process.env.ZKFL_PTAU,
  onStage: (message) => process.stderr.write(`${message}\n`),
  onResult: async (result) => {
    const browser = await launchChromium();
    try {
      const page = await browser.newPage({ viewport: { width: 1100, height: 900 } });
      await page.goto(result.dashboardUrl.replace(/#.*$/, '#/'));
      await page.locator('table').waitFor();
      await page.screenshot({ path: `${out}tasks.png` });
      await page.goto(result.dashboardUrl);
      await page.locator(`figure.plot[data-points="${result.rounds.length}"]`).waitFor();
      await page.screenshot({ path: `${out}task.png`, fullPage: true });
      await page.getByRole('link', { name: 'Verify this run' }).click();
      await page.locator('[data-verdict="ok"]').waitFor({ timeout: 120_000 });
      await page.screenshot({ path: `${out}verify.png`, fullPage: true });
      process.stderr.write(`screenshots in ${out}\n`);
    } finally {
      await browser.close();
    }
  },
});
