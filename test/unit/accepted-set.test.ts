import { expect } from 'chai';
import { getAddress, keccak256, solidityPacked, Wallet, ZeroHash } from 'ethers';
import {
  acceptedLeaf,
  acceptedLeafAt,
  acceptedRoot,
  acceptedTotal,
  committedRoot,
  updateCommitment,
} from '../../contracts/accepted-set.js';
import { type RoundRecord, recordSigner, signRecord } from '../../protocol/audit.js';
import { canonicalJson } from '../../protocol/canonical.js';

const pair = (seed: number, amount = String(seed * 100)) => ({
  address: getAddress('0x' + seed.toString(16).padStart(40, '0')),
  commitment: keccak256('0x' + seed.toString(16).padStart(2, '0')),
  amount,
});

describe('accepted sets and signed round records', () => {
  it('indexes leaves by ascending address, whatever the order the entries come in, and binds their amounts', () => {
    const entries = [pair(3), pair(1), pair(2)];
    expect(acceptedRoot(entries)).to.equal(acceptedRoot([...entries].reverse()));
    expect([1, 2, 3].map((seed) => acceptedLeaf(entries, pair(seed).address)!.leaf.index)).to.deep.equal([0, 1, 2]);
    expect(acceptedLeaf(entries, pair(9).address)).to.equal(undefined);
    expect(acceptedLeafAt(entries, 2)!.leaf).to.deep.include({ contributor: pair(3).address, amount: 300n });
    expect(acceptedLeafAt(entries, 3)).to.equal(undefined);
    expect(acceptedTotal(entries)).to.equal(600n);
    expect(acceptedRoot([pair(1, '5'), pair(2), pair(3)])).to.not.equal(acceptedRoot(entries));
  });

  it('roots only what carries a commitment, and nothing as the zero hash', () => {
    expect(acceptedRoot([])).to.equal(ZeroHash);
    expect(committedRoot([{ address: pair(1).address, commitment: null, amount: null }])).to.equal(ZeroHash);
    expect(committedRoot([pair(1), { address: pair(2).address, commitment: '', amount: '0' }])).to.equal(
      acceptedRoot([pair(1)]),
    );
  });

  it('commits to an update as keccak256 of its packed chunk commitments, as the contract does', () => {
    expect(updateCommitment(['1', '2'])).to.equal(keccak256(solidityPacked(['uint256', 'uint256'], [1, 2])));
    expect(updateCommitment(['1', '2'])).to.not.equal(updateCommitment(['2', '1']));
  });

  it("signs a record's canonical JSON: key order does not matter, any edit does", async () => {
    expect(canonicalJson({ b: 1, a: { d: [2, { f: 1, e: 0 }], c: null } })).to.equal(
      '{"a":{"c":null,"d":[2,{"e":0,"f":1}]},"b":1}',
    );
    const wallet = Wallet.createRandom();
    const record: RoundRecord = {
      taskId: 't-1',
      round: 1,
      coordinator: wallet.address,
      modelHashBefore: 'a'.repeat(64),
      modelHashAfter: 'b'.repeat(64),
      accuracy: 0.5,
      loss: 1,
      acceptedRoot: ZeroHash,
      accepted: [],
      scoring: { method: 'exact', evaluations: 1, seconds: 0, roundGain: 0, examples: 500, pool: '0' },
      rejected: [{ address: pair(1).address, code: 'PROOF_INVALID', reason: 'chunk 0' }],
      rejectedUnlisted: 2,
    };
    const signed = await signRecord(wallet, record);
    const reordered = JSON.parse(canonicalJson(record)) as RoundRecord;
    expect(recordSigner({ record: reordered, signature: signed.signature })).to.equal(wallet.address);
    for (const edited of [
      { ...record, rejected: [] },
      { ...record, rejectedUnlisted: 0 },
    ]) {
      expect(recordSigner({ record: edited, signature: signed.signature })).to.not.equal(wallet.address);
    }
  });
});
