import { expect } from 'chai';
import { readFileSync } from 'node:fs';
import { terminateCurve } from '../../circuits/build.js';
import { resolvePtau } from '../../circuits/ptau.js';
import { tempDir } from '../helpers/temp.js';

describe('powers of tau', function () {
  this.timeout(120_000);
  const dir = tempDir();
  after(() => terminateCurve());

  it('without a given file, downloads the public one or runs a development ceremony', async () => {
    const stages: string[] = [];
    const source = await resolvePtau(8, undefined, dir, (stage) => stages.push(stage));
    // Offline (as here), the dev ceremony runs; with internet, the Hermez file (whose hash is checked) arrives.
    expect(source.origin).to.be.oneOf(['dev', 'hermez']);
    expect(readFileSync(source.path).subarray(0, 4).toString()).to.equal('ptau');
    if (source.origin === 'dev')
      expect(stages).to.deep.equal(
        ['new', 'contribute', 'beacon', 'prepare phase 2'].map((s) => `powers of tau 2^8: ${s}`),
      );
  });

  it('takes a given file as it is, and refuses a missing one', async () => {
    expect(await resolvePtau(16, '/etc/hostname', dir, () => undefined)).to.deep.equal({
      path: '/etc/hostname',
      origin: 'given',
    });
    const error = await resolvePtau(16, '/nonexistent.ptau', dir, () => undefined).catch((e: Error) => e);
    expect(error)
      .to.be.instanceOf(Error)
      .with.property('message')
      .that.matches(/does not exist/);
  });
});
