/**
 * The web UI (web/): bundled with esbuild when the coordinator starts — every asset in memory, nothing
 * fetched from elsewhere — and served at `/`, beside the API it reads.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { type RequestHandler, Router } from 'express';
import { createLogger } from '../../common/log.js';

const log = createLogger('dashboard');
const source = fileURLToPath(new URL('../../web/', import.meta.url));

export interface DashboardBundle {
  html: string;
  /** Every output file (the entry, its stylesheet, chunks loaded on demand) by name, under `/assets/`. */
  assets: Map<string, { type: string; text: string }>;
  /** TF.js's WebAssembly binaries, under `/assets/tfjs/`: the contributor page trains with them. */
  wasm: Map<string, Buffer>;
}

/** TF.js's WebAssembly backend binaries (plain, SIMD, threaded SIMD), by file name. */
function tfjsWasm(): Map<string, Buffer> {
  const dist = dirname(createRequire(import.meta.url).resolve('@tensorflow/tfjs-backend-wasm'));
  const names = readdirSync(dist).filter((name) => name.endsWith('.wasm'));
  return new Map(names.map((name) => [name, readFileSync(join(dist, name))]));
}

let bundled: Promise<DashboardBundle> | undefined;

/**
 * The dashboard, bundled once per process (about a second, at the first coordinator's start): its sources do not
 * change while it runs, and a process running several coordinators (tests, benchmarks) serves them all the same.
 */
export function bundleDashboard(): Promise<DashboardBundle> {
  bundled ??= bundle().catch((error: unknown) => {
    bundled = undefined; // the next start tries again
    throw error;
  });
  return bundled;
}

async function bundle(): Promise<DashboardBundle> {
  const started = Date.now();
  const result = await build({
    entryPoints: {
      dashboard: `${source}main.ts`,
      'verify-worker': `${source}workers/verify-worker.ts`,
      'contribute-worker': `${source}workers/contribute-worker.ts`,
      'prove-worker': `${source}workers/prove-worker.ts`,
    },
    bundle: true,
    minify: true,
    format: 'esm',
    splitting: true,
    platform: 'browser',
    target: 'es2022',
    write: false,
    outdir: 'assets',
    logLevel: 'silent',
  });
  const assets = new Map(
    result.outputFiles.map((file) => {
      const name = file.path.slice(file.path.lastIndexOf('/') + 1);
      return [name, { type: name.endsWith('.css') ? 'css' : 'js', text: file.text }] as const;
    }),
  );
  const bundle = { html: readFileSync(`${source}index.html`, 'utf8'), assets, wasm: tfjsWasm() };
  const bytes = [...assets.values()].reduce((sum, asset) => sum + asset.text.length, 0);
  log.debug('dashboard bundled', { ms: Date.now() - started, files: assets.size, bytes });
  return bundle;
}

/**
 * Headers on every response: the pages run only the coordinator's own scripts (and WebAssembly, which the in-browser
 * audit needs), talk only to it and to `chainRpc` (the public JSON-RPC endpoint the contributor page claims through,
 * if any), and cannot be framed by another site (whose page could otherwise overlay the owner form's wallet sign-in);
 * no response is sniffed into another type, and no URL leaks to others as referrer. The pages are cross-origin
 * isolated (COOP and COEP), which lets TF.js's WebAssembly train on several threads in the contributor's worker; its
 * thread workers load their code from blob: URLs, which only script already running in the origin can make.
 */
export function securityHeaders(chainRpc?: string): RequestHandler {
  const connect = ["'self'", ...(chainRpc ? [new URL(chainRpc).origin] : [])].join(' ');
  const headers = {
    'Content-Security-Policy': [
      "default-src 'self'",
      "script-src 'self' 'wasm-unsafe-eval' blob:",
      "worker-src 'self' blob:",
      `connect-src ${connect}`,
      "img-src 'self' data:",
      "object-src 'none'",
      "base-uri 'none'",
      "form-action 'self'",
      "frame-ancestors 'none'",
    ].join('; '),
    'Cross-Origin-Opener-Policy': 'same-origin',
    'Cross-Origin-Embedder-Policy': 'require-corp',
    'X-Frame-Options': 'DENY',
    'X-Content-Type-Options': 'nosniff',
    'Referrer-Policy': 'no-referrer',
  };
  return (_req, res, next) => {
    res.set(headers);
    next();
  };
}

export function dashboardRouter(bundle: DashboardBundle): Router {
  const router = Router();
  router.get('/', (_req, res) => void res.type('html').send(bundle.html));
  router.get('/assets/:name', (req, res, next) => {
    const asset = bundle.assets.get(req.params.name);
    if (asset) res.type(asset.type).send(asset.text);
    else next();
  });
  router.get('/assets/tfjs/:name', (req, res, next) => {
    const binary = bundle.wasm.get(req.params.name);
    if (binary) res.type('application/wasm').send(binary);
    else next();
  });
  return router;
}
