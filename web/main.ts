/**
 * The web UI, in the browser: a router over its pages (pages/), each its own module, sharing one DOM helper (dom.ts)
 * and the typed API client (api.ts); the in-browser audit runs in a Web Worker (workers/). Everything it shows comes
 * from the same REST API as the CLI's; text from the coordinator is set as text, never parsed as HTML.
 */
import 'uplot/dist/uPlot.min.css';
import { api } from './api.js';
import { h, show } from './dom.js';
import { holderPage } from './pages/holder.js';
import { taskPage } from './pages/task.js';
import { tasksPage } from './pages/tasks.js';
import './style.css';

/** What the page being left must stop (its watch connection, its verifier). */
let leavePage: (() => void) | undefined;

async function route(): Promise<void> {
  leavePage?.();
  leavePage = undefined;
  const task = /^#\/tasks\/([^/]+)$/.exec(window.location.hash);
  const verify = /^#\/tasks\/([^/]+)\/verify$/.exec(window.location.hash);
  const contribute = /^#\/tasks\/([^/]+)\/contribute$/.exec(window.location.hash);
  const holder = /^#\/holders\/(0x[0-9a-fA-F]{40})$/.exec(window.location.hash);
  try {
    if (task) leavePage = await taskPage(decodeURIComponent(task[1]!));
    else if (verify) {
      // The verifier's page brings the audit code; its worker brings snarkjs.
      const { verifyRun } = await import('./pages/verify.js');
      leavePage = verifyRun(api, decodeURIComponent(verify[1]!), document.getElementById('app')!);
    } else if (contribute) {
      // The contributor's page brings the key's and the client's code; its worker brings TF.js and snarkjs.
      const { contributePage } = await import('./pages/contribute.js');
      leavePage = await contributePage(decodeURIComponent(contribute[1]!));
    } else if (holder) await holderPage(holder[1]!);
    else if (window.location.hash === '#/new') {
      // The form brings the API's schema and a wallet client: loaded only for the owners who open it.
      const { newTaskForm } = await import('./pages/new-task.js');
      show(h('h1', {}, 'New task'), newTaskForm(api));
    } else await tasksPage();
  } catch (error) {
    show(h('p', { class: 'error', role: 'alert' }, (error as Error).message));
  }
}

window.addEventListener('hashchange', () => void route());
void route();
