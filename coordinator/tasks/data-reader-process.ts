// Reads one data set for the coordinator, away from its event loop and its heap (coordinator/tasks/data-reader.ts): it
// is sent {path, limits}, answers with the data set or a coded error, and exits.
import { readDataset, type ReadLimits } from '../../ml/dataset.js';
import { toErrorBody } from '../../common/errors.js';

process.once('message', (request: { path: string; limits: ReadLimits }) => {
  readDataset(request.path, request.limits).then(
    (dataset) => process.send!({ dataset }, () => process.exit(0)),
    (error: unknown) => process.send!({ error: toErrorBody(error) }, () => process.exit(0)),
  );
});
process.send!({ ready: true });
