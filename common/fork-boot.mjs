// Child processes and worker threads do not inherit tsx's loader when the parent registered it through its API:
// register it here, then load the TypeScript module the parent named (a thread's in its workerData).
import { workerData } from 'node:worker_threads';
import { register } from 'tsx/esm/api';

register();
await import(workerData?.module ?? process.argv[2]);
