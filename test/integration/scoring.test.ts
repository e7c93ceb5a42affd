import { expect } from 'chai';
import { join } from 'node:path';
import type { RunningCoordinator } from '../../coordinator/server.js';
import type { RoundEndPayload, RoundStartPayload } from '../../protocol/events.js';
import { Wallet } from 'ethers';
import { handScales, provenUpdate, quantizedAsClient, trainedUpdate } from '../helpers/contribution.js';
import { smallTask, writeShards, dataRoot } from '../helpers/fixtures.js';
import { runClients } from '../helpers/clients.js';
import { connect, joinWithConsent, next, randomWallet, request } from '../helpers/raw-client.js';
import { createTask, eventually, getRounds, getWeights } from '../helpers/rest.js';
import { fetchBundle } from '../../verifier/bundle.js';
import { auditRun } from '../../verifier/run.js';
import type { TaskSpecInput } from '../../protocol/task-spec.js';
import { tempDir } from '../helpers/temp.js';
import { freeRiderTask, noiseAtBound, sendBesideHonest, type SentValues } from '../helpers/free-rider.js';
import type { TaskView } from '../../protocol/rest.js';
import { dequantize } from '../../circuits/codec.js';
import { Random } from '../../common/random.js';
import { startTestCoordinator } from '../helpers/servers.js';

describe('contribution scores decide the pay', function () {
  const dir = tempDir();
  let coordinator: RunningCoordinator;

  before(async () => {
    coordinator = await startTestCoordinator({ dataRoot, port: 0, dataDir: join(dir, 'coordinator') });
  });
  after(() => coordinator.close());

  it('pays an all-zero update with valid proofs at most 5 % of the median honest amount', async () => {
    const pool = 10n ** 18n;
    const task = await createTask(
      coordinator.url,
      smallTask({
        rounds: 1,
        clientsPerRound: { min: 4, target: 4 },
        roundDeadlineSeconds: 240,
        rewards: { perRound: String(pool) },
        seed: 3,
      }),
    );
    // A free rider: joins with its consent, sends a zero update with perfectly valid proofs and a large sample count.
    const wallet = randomWallet();
    const socket = await connect(coordinator.url, wallet);
    const started = next<RoundStartPayload>(socket, 'round:start');
    expect(await joinWithConsent(socket, coordinator.url, wallet, task.id)).to.include({ ok: true });
    const { modelHash } = await started;
    const zero = await provenUpdate(
      task,
      { taskId: task.id, round: 1, address: wallet.address, modelHash },
      new Int8Array(task.numParams),
    );
    const ended = next<RoundEndPayload>(socket, 'round:end');
    expect(await request(socket, 'update', { ...zero, numSamples: 2000 })).to.include({ ok: true });
    // Three honest clients with different amounts of data.
    const shards = writeShards(dir, [200, 600, 1500]);
    const keys = shards.map((_, i) => join(dir, `honest-${i}.json`));
    const honest = await Promise.all(runClients(coordinator.url, task.id, shards, keys));
    await ended;
    socket.disconnect();

    const [round] = await getRounds(coordinator.url, task.id);
    const amount = (address: string): bigint => BigInt(round!.participants.find((p) => p.address === address)!.amount!);
    const honestAmounts = honest.map((result) => amount(result.address)).sort((a, b) => (a < b ? -1 : 1));
    const median = honestAmounts[1]!;
    expect(median > 0n, `median ${median}`).to.equal(true);
    expect(
      amount(wallet.address) * 20n <= median,
      `zero update paid ${amount(wallet.address)}, median ${median}`,
    ).to.equal(true);
    // It adds nothing to any coalition (the round's normalisation, not the coalition's): its score is exactly 0.
    expect(round!.participants.find((p) => p.address === wallet.address)!.score).to.equal(0);
    // The round paid out no more than its pool.
    const paid = round!.participants.reduce((sum, p) => sum + BigInt(p.amount!), 0n);
    expect(paid <= pool, `paid ${paid} of ${pool}`).to.equal(true);
  });

  it("leaves a zero update and a replay of the last round's step out of the model, pays them 0, and verify agrees", async () => {
    const task = await createTask(
      coordinator.url,
      freeRiderTask({
        rounds: 2,
        seed: 3,
        publicAudit: true,
      }),
    );
    const wallet = randomWallet();
    const socket = await connect(coordinator.url, wallet);
    const startOf = (round: number): Promise<RoundStartPayload> =>
      new Promise((resolve) => {
        const started = (start: RoundStartPayload): void => {
          if (start.round !== round) return;
          socket.off('round:start', started);
          resolve(start);
        };
        socket.on('round:start', started);
      });
    const first = startOf(1);
    expect(await joinWithConsent(socket, coordinator.url, wallet, task.id)).to.include({ ok: true });
    const send = async (round: number, modelHash: string, update: { q: Int8Array; fractionBits: number[] }) => {
      const statement = { taskId: task.id, round, address: wallet.address, modelHash };
      const sent = await provenUpdate(task, statement, update.q, undefined, update.fractionBits);
      expect(await request(socket, 'update', sent)).to.include({ ok: true });
    };
    const shards = writeShards(join(dir, 'free-riders'), [400, 600]);
    const keys = shards.map((_, i) => join(dir, `free-riders-honest-${i}.json`));
    const honest = Promise.all(runClients(coordinator.url, task.id, shards, keys));
    // Round 1: nothing at all, with valid proofs.
    const second = startOf(2);
    await send(1, (await first).modelHash, { q: new Int8Array(task.numParams), fractionBits: handScales(task) });
    // Round 2: the step round 1 took, w_2 − w_1, as a client would quantize it.
    const { modelHash } = await second;
    const [w1, w2] = [await getWeights(coordinator.url, task.id, 0), await getWeights(coordinator.url, task.id, 1)];
    const step = w2.map((w, i) => w - w1[i]!);
    await send(2, modelHash, quantizedAsClient(task, step, wallet.address, 2));
    await honest;
    socket.disconnect();

    const bundle = await eventually(() => fetchBundle(coordinator.url, task.id).catch(() => undefined), 'the bundle');
    const records = bundle.rounds.map(({ record }) => record);
    expect(records[0]!.scoring.leftOut).to.deep.include({ address: wallet.address, why: 'no value' });
    expect(records[1]!.scoring.leftOut).to.deep.include({ address: wallet.address, why: 'replay' });
    for (const record of records) {
      const rider = record.accepted.find((update) => update.address === wallet.address)!;
      expect([rider.score, rider.amount]).to.deep.equal([0, '0']);
      // The honest holders split the whole pool.
      const paid = record.accepted.reduce((sum, update) => sum + BigInt(update.amount), 0n);
      expect(paid > 10n ** 18n - 10n, `paid ${paid}`).to.equal(true);
    }
    // verify aggregates without them and finds the same model, and finds the same left out when it scores again.
    const report = await auditRun(bundle);
    expect([report.ok, report.problems, report.scores]).to.deep.equal([true, [], 'recomputed']);
  });

  it('leaves noise at the norm bound out of the model as noise, pays it 0, and verify agrees', async () => {
    const task = await createTask(
      coordinator.url,
      freeRiderTask({
        seed: 4,
        publicAudit: true,
      }),
    );
    const shards = writeShards(join(dir, 'noise'), [400, 600]);
    const keys = shards.map((_, i) => join(dir, `noise-honest-${i}.json`));
    // Gaussian values at the norm bound: what costs a free rider nothing, proven like any update.
    const address = await sendBesideHonest(coordinator.url, task, { shards, keys }, (sender) =>
      noiseAtBound(task, 11, sender),
    );

    const bundle = await eventually(() => fetchBundle(coordinator.url, task.id).catch(() => undefined), 'the bundle');
    const [record] = bundle.rounds.map(({ record }) => record);
    expect(record!.scoring.leftOut).to.deep.equal([{ address, why: 'noise' }]);
    const rider = record!.accepted.find((update) => update.address === address)!;
    expect([rider.score, rider.amount]).to.deep.equal([0, '0']);
    // The honest holders are kept, and split the pool.
    const honestAmounts = record!.accepted.filter((update) => update !== rider).map((update) => BigInt(update.amount));
    expect(honestAmounts.every((amount) => amount > 0n)).to.equal(true);
    const report = await auditRun(bundle);
    expect([report.ok, report.problems, report.scores]).to.deep.equal([true, [], 'recomputed']);
  });

  it('with leaveOutByScore false keeps a harmful update in the model, pays it 0, and verify agrees', async () => {
    const task = await createTask(
      coordinator.url,
      freeRiderTask({
        aggregation: { leaveOutByScore: false },
        seed: 6,
        publicAudit: true,
      }),
    );
    const shards = writeShards(join(dir, 'harmful'), [400, 600, 500]);
    const keys = [0, 1].map((i) => join(dir, `harmful-honest-${i}.json`));
    const global = await getWeights(coordinator.url, task.id, 0);
    // A trained update turned around: real labelled data behind it, in the span, not a zero, not a replay.
    const address = await sendBesideHonest(
      coordinator.url,
      task,
      { shards: shards.slice(0, 2), keys },
      async (sender) => {
        const trained = await trainedUpdate(task, global, shards[2]!, sender);
        return { q: trained.q.map((value) => -value), fractionBits: trained.fractionBits };
      },
    );

    const bundle = await eventually(() => fetchBundle(coordinator.url, task.id).catch(() => undefined), 'the bundle');
    const [record] = bundle.rounds.map(({ record }) => record);
    expect(record!.scoring).to.not.have.property('leftOut');
    const rider = record!.accepted.find((update) => update.address === address)!;
    expect(rider.score).to.be.lessThan(0);
    expect(rider.amount).to.equal('0');
    // verify aggregates it in and scores it as the coordinator did: leaving it out would give another model.
    const report = await auditRun(bundle);
    expect([report.ok, report.problems, report.scores]).to.deep.equal([true, [], 'recomputed']);
  });

  /**
   * Round 1 of a task (seed 5) with two honest holders (real clients on `shards[0..1]`, keys `honestKeys`) and one
   * holder that trains on `shards[2]` as the client does and sends that update, proven, under each of `wallets`.
   * Answers each address's amount.
   */
  async function copiedRound(
    shards: string[],
    honestKeys: string[],
    wallets: Wallet[],
    perKey: (update: SentValues, wallet: Wallet, task: TaskView) => SentValues = (update) => update,
  ): Promise<{ taskId: string; amounts: Map<string, bigint> }> {
    const task = await createTask(
      coordinator.url,
      smallTask({
        rounds: 1,
        clientsPerRound: { min: 2 + wallets.length, target: 2 + wallets.length },
        roundDeadlineSeconds: 240,
        rewards: { perRound: String(10n ** 18n) },
        seed: 5,
        publicAudit: true,
      }),
    );
    const sockets = await Promise.all(wallets.map((wallet) => connect(coordinator.url, wallet)));
    const started = sockets.map((socket) => next<RoundStartPayload>(socket, 'round:start'));
    for (const [i, socket] of sockets.entries()) {
      expect(await joinWithConsent(socket, coordinator.url, wallets[i]!, task.id)).to.include({ ok: true });
    }
    const honest = Promise.all(runClients(coordinator.url, task.id, shards.slice(0, 2), honestKeys));
    const { modelHash } = (await Promise.all(started))[0]!;
    const update = await trainedUpdate(
      task,
      await getWeights(coordinator.url, task.id, 0),
      shards[2]!,
      wallets[0]!.address,
    );
    const ended = next<RoundEndPayload>(sockets[0]!, 'round:end');
    for (const [i, socket] of sockets.entries()) {
      const statement = { taskId: task.id, round: 1, address: wallets[i]!.address, modelHash };
      const { q, fractionBits } = perKey(update, wallets[i]!, task);
      const sent = await provenUpdate(task, statement, q, undefined, fractionBits);
      expect(await request(socket, 'update', sent)).to.include({ ok: true });
    }
    await honest;
    await ended;
    for (const socket of sockets) socket.disconnect();
    const [round] = await getRounds(coordinator.url, task.id);
    return { taskId: task.id, amounts: new Map(round!.participants.map((p) => [p.address, BigInt(p.amount!)])) };
  }

  describe('copies under many keys', () => {
    const attacker = [0, 1, 2, 3, 4].map(() => randomWallet());
    const honestKeys = [0, 1].map((i) => join(dir, `copies-honest-${i}.json`));
    let shards: string[];
    let alone: ReturnType<typeof copiedRound> | undefined;
    before(() => void (shards = writeShards(join(dir, 'copies'), [400, 400, 400])));

    for (const keys of [2, 3, 5]) {
      it(`pays an update copied under ${keys} keys together what it earns under one, and the honest holders the same`, async () => {
        const { amounts: single } = await (alone ??= copiedRound(shards, honestKeys, attacker.slice(0, 1)));
        const copies = attacker.slice(0, keys);
        const { amounts: copied, taskId } = await copiedRound(shards, honestKeys, copies);
        const honestAddresses = [...single.keys()].filter((address) => address !== attacker[0]!.address);
        expect(honestAddresses).to.have.length(2);
        // Within a millionth: the two tasks accept the same updates in another order, and float sums follow it.
        const close = (a: bigint, b: bigint): boolean => (a > b ? a - b : b - a) * 10n ** 6n <= b;
        for (const address of honestAddresses) {
          expect(
            close(copied.get(address)!, single.get(address)!),
            `${address}: ${copied.get(address)} vs ${single.get(address)}`,
          ).to.equal(true);
        }
        const together = copies.reduce((sum, wallet) => sum + copied.get(wallet.address)!, 0n);
        expect(single.get(attacker[0]!.address)! > 0n).to.equal(true);
        expect(
          close(together, single.get(attacker[0]!.address)!),
          `copies ${together}, alone ${single.get(attacker[0]!.address)}`,
        ).to.equal(true);
        // The round record names the group, and an independent audit recomputes it, with every score, from the bundle.
        const bundle = await eventually(
          () => fetchBundle(coordinator.url, taskId).catch(() => undefined),
          'the bundle',
        );
        expect(bundle.rounds[0]!.record.scoring.replicas).to.deep.equal([copies.map((wallet) => wallet.address)]);
        const report = await auditRun(bundle);
        expect([report.ok, report.problems, report.scores]).to.deep.equal([true, [], 'recomputed']);
      });
    }
  });

  it('groups near-copies (+5 % noise, each key rounding its own) under 3 keys, and pays them together what one earns', async () => {
    // Fixed keys: the copies' noise and rounding, and so their distances, are the same every run.
    const attacker = [1, 2, 3].map((i) => new Wallet(`0x${i.toString(16).padStart(64, '0')}`));
    const honestKeys = [0, 1].map((i) => join(dir, `near-honest-${i}.json`));
    const shards = writeShards(join(dir, 'near'), [400, 400, 400]);
    const { amounts: single } = await copiedRound(shards, honestKeys, attacker.slice(0, 1));
    const random = new Random(5);
    const nearCopy = (update: SentValues, wallet: Wallet, task: TaskView): SentValues => {
      const delta = Float32Array.from(dequantize(update.q, update.fractionBits, task.zk.chunkSize));
      const sigma = (0.05 * Math.hypot(...delta)) / Math.sqrt(delta.length);
      const noisy = delta.map((value) => value + sigma * random.normal());
      return quantizedAsClient(task, noisy, wallet.address, 1);
    };
    const { amounts: near, taskId } = await copiedRound(shards, honestKeys, attacker, nearCopy);
    const bundle = await eventually(() => fetchBundle(coordinator.url, taskId).catch(() => undefined), 'the bundle');
    expect(bundle.rounds[0]!.record.scoring.replicas).to.deep.equal([attacker.map((wallet) => wallet.address)]);
    const together = attacker.reduce((sum, wallet) => sum + near.get(wallet.address)!, 0n);
    const alone = single.get(attacker[0]!.address)!;
    expect(Number(together) / Number(alone)).to.be.at.most(1.05);
    // The honest holders are paid what they are beside the one key, within 5 %: the copies took nothing from them.
    for (const [address, amount] of single) {
      if (address === attacker[0]!.address) continue;
      expect(Number(near.get(address)!) / Number(amount), address).to.be.within(0.95, 1.05);
    }
    const report = await auditRun(bundle);
    expect([report.ok, report.problems, report.scores]).to.deep.equal([true, [], 'recomputed']);
  });

  /**
   * Two clients send opposite updates (every value +8 and −8, at scale 2^−8), declaring `declared` samples each; the
   * step the round took, per parameter, when it closed. Both are aggregated (one of them hurts, so only contributors
   * would leave it out): what is measured is the weight each gets.
   */
  async function stepWith(aggregation: TaskSpecInput['aggregation'], declared: [number, number]): Promise<number> {
    const task = await createTask(
      coordinator.url,
      smallTask({
        rounds: 1,
        proofs: false,
        clientsPerRound: { min: 2, target: 2 },
        aggregation: { ...aggregation, contributorsOnly: false },
      }),
    );
    const before = await getWeights(coordinator.url, task.id, 0);
    const clients = await Promise.all(
      declared.map(async (numSamples, i) => {
        const wallet = randomWallet();
        const socket = await connect(coordinator.url, wallet);
        const started = next<RoundStartPayload>(socket, 'round:start');
        await joinWithConsent(socket, coordinator.url, wallet, task.id);
        return { socket, numSamples, value: i === 0 ? 8 : -8, started };
      }),
    );
    const ended = next<RoundEndPayload>(clients[0]!.socket, 'round:end');
    for (const { socket, numSamples, value, started } of clients) {
      await started;
      const q = new Uint8Array(Int8Array.from({ length: task.numParams }, () => value).buffer);
      const fractionBits = Array<number>(task.zk.chunks).fill(8);
      const reply = await request(socket, 'update', { taskId: task.id, round: 1, numSamples, q, fractionBits });
      expect(reply).to.include({ ok: true });
    }
    await ended;
    for (const { socket } of clients) socket.disconnect();
    const after = await getWeights(coordinator.url, task.id, 'latest');
    return (after[0]! - before[0]!) * 2 ** 8;
  }

  it('weighs every update alike by default: a declared 2^20 samples buys no influence', async () => {
    expect(await stepWith(undefined, [2 ** 20, 1])).to.be.closeTo(0, 1e-3);
  });

  it('weighs by declared samples only when the spec says so, and never past its cap', async () => {
    expect(await stepWith({ weights: 'samples' }, [3, 1])).to.be.closeTo(4, 1e-3);
    expect(await stepWith({ weights: 'samples', samplesCap: 1 }, [2 ** 20, 1])).to.be.closeTo(0, 1e-3);
  });
});
