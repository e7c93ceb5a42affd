/**
 * The dashboard (dashboard/): bundled with esbuild when the coordinator starts — every asset in memory, nothing
 * fetched from elsewhere — and served at `/`, beside the API it reads.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { Router } from 'express';
import { createLogger } from '../common/log.js';

const log = createLogger('dashboard');
const source = fileURLToPath(new URL('../dashboard/', import.meta.url));

export interface DashboardBundle {
  html: string;
  js: string;
  css: string;
}

/** Bundles the dashboard (about a second; the coordinator does it once, at start). */
export async function bundleDashboard(): Promise<DashboardBundle> {
  const started = Date.now();
  const result = await build({
    entryPoints: { dashboard: `${source}main.ts` },
    bundle: true,
    minify: true,
    format: 'esm',
    platform: 'browser',
    target: 'es2022',
    write: false,
    outdir: 'assets',
    logLevel: 'silent',
  });
  const output = (extension: string): string =>
    result.outputFiles.find((file) => file.path.endsWith(extension))?.text ?? '';
  const bundle = { html: readFileSync(`${source}index.html`, 'utf8'), js: output('.js'), css: output('.css') };
  log.debug('dashboard bundled', { ms: Date.now() - started, jsBytes: bundle.js.length, cssBytes: bundle.css.length });
  return bundle;
}

export function dashboardRouter(bundle: DashboardBundle): Router {
  const router = Router();
  router.get('/', (_req, res) => void res.type('html').send(bundle.html));
  router.get('/assets/dashboard.js', (_req, res) => void res.type('js').send(bundle.js));
  router.get('/assets/dashboard.css', (_req, res) => void res.type('css').send(bundle.css));
  return router;
}
