/**
 * A task for known holders (`spec.holders`): only the addresses its owner named take part. Keys are free, and one
 * person's data trained under several keys cannot be told from several people's (SECURITY.md): naming the holders is
 * what makes one person one player. Real clients, proofs and coordinator.
 */
import { expect } from 'chai';
import { join } from 'node:path';
import { runClient } from '../../client/client.js';
import type { ZkflError } from '../../common/errors.js';
import { loadOrCreateWallet } from '../../common/identity.js';
import type { RunningCoordinator } from '../../coordinator/server.js';
import { CoordinatorApi } from '../../protocol/api.js';
import { holdersHash } from '../../protocol/holders.js';
import { renderTerms } from '../../protocol/terms-text.js';
import { fetchBundle } from '../../verifier/bundle.js';
import { auditRun } from '../../verifier/run.js';
import { runClients } from '../helpers/clients.js';
import { dataRoot, smallTask, writeShards } from '../helpers/fixtures.js';
import { connect, joinWithConsent } from '../helpers/raw-client.js';
import { createTask, eventually } from '../helpers/rest.js';
import { startTestCoordinator } from '../helpers/servers.js';
import { tempDir } from '../helpers/temp.js';

describe('a task for known holders', function () {
  const dir = tempDir();
  let coordinator: RunningCoordinator;

  before(async () => {
    coordinator = await startTestCoordinator({ dataRoot, port: 0, dataDir: join(dir, 'coordinator') });
  });
  after(() => coordinator.close());

  it('takes only the addresses its owner named: another key is refused before it agrees, and verify names an outsider', async () => {
    const keyPaths = [0, 1, 2].map((i) => join(dir, `holder-${i}.json`));
    const [first, second, outsider] = keyPaths.map((path) => loadOrCreateWallet(path));
    // Case does not count: one address as checksummed, the other lowercased.
    const holders = [first!.address, second!.address.toLowerCase()];
    const task = await createTask(coordinator.url, smallTask({ rounds: 1, holders }));
    const terms = await new CoordinatorApi(coordinator.url).terms(task.id);
    expect(terms.terms.holders).to.deep.equal({ count: 2, hash: holdersHash(holders) });
    expect(renderTerms(terms)).to.match(/only the 2 address\(es\) the owner named/);
    const shards = writeShards(dir, [300, 300, 300]);

    // The client of a key not on the list stops before it asks its holder to agree, so nothing trains.
    let asked = false;
    const agreeToTerms = (): Promise<boolean> => Promise.resolve((asked = true));
    const coordinatorUrl = coordinator.url;
    const refused = await runClient({
      agreeToTerms,
      coordinatorUrl,
      taskId: task.id,
      dataPath: shards[2]!,
      keyPath: keyPaths[2]!,
    }).then(
      () => 'took part',
      (error: ZkflError) => error.code,
    );
    expect([refused, asked]).to.deep.equal(['NOT_INVITED', false]);
    // A client that skips that check and joins with a valid consent is refused by the coordinator.
    const socket = await connect(coordinator.url, outsider!);
    const reply = await joinWithConsent(socket, coordinator.url, outsider!, task.id);
    expect(reply.ok ? 'joined' : reply.error.code).to.equal('NOT_INVITED');
    socket.disconnect();

    const results = await Promise.all(runClients(coordinator.url, task.id, shards.slice(0, 2), keyPaths.slice(0, 2)));
    expect(results.map((result) => result.address)).to.have.members([first!.address, second!.address]);
    const bundle = await eventually(() => fetchBundle(coordinator.url, task.id).catch(() => undefined), 'the bundle');
    // The outsider's refused join left no consent behind.
    expect(bundle.consents.map((consent) => consent.address)).to.not.include(outsider!.address);
    const report = await auditRun(bundle);
    expect([report.ok, report.problems]).to.deep.equal([true, []]);

    // A bundle whose task names another list: the accepted holder off it is named, and so are terms that disagree.
    const forged = structuredClone(bundle);
    forged.task.spec.holders = [first!.address, outsider!.address];
    const kinds = (await auditRun(forged)).problems.map(({ round, kind }) => `${round}:${kind}`);
    expect(kinds).to.include.members(['null:terms', '1:uninvited']);
  });
});
