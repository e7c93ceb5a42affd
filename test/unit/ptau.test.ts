import { expect } from 'chai';
import { readFileSync } from 'node:fs';
import { terminateCurve } from '../../circuits/build.js';
import { resolvePtau } from '../../circuits/ptau.js';
import { tempDir } from '../helpers/temp.js';

describe('powers of tau', function () {
  this.timeout(120_000);
  const dir = tempDir();
  after(() => terminateCurve());

  it('without a given file or a published one of that size, runs a development ceremony', async () => {
    const stages: string[] = [];
    // No public file is published for 2^8: nothing is downloaded.
    const offline = (): Promise<Response> => Promise.reject(new Error('no download expected'));
    const source = await resolvePtau(8, undefined, dir, (stage) => stages.push(stage), offline);
    expect(source.origin).to.equal('dev');
    expect(readFileSync(source.path).subarray(0, 4).toString()).to.equal('ptau');
    expect(stages).to.deep.equal(
      ['new', 'contribute', 'beacon', 'prepare phase 2'].map((s) => `powers of tau 2^8: ${s}`),
    );
  });

  it('refuses a downloaded public file whose hash is not the published one', async () => {
    const tampered = (): Promise<Response> => Promise.resolve(new Response('not the Hermez file'));
    const error = await resolvePtau(10, undefined, dir, () => undefined, tampered).catch((e: Error) => e);
    expect(error)
      .to.be.instanceOf(Error)
      .with.property('message')
      .that.matches(/differs from the published hash/);
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
