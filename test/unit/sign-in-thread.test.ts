import { expect } from 'chai';
import { Wallet } from 'ethers';
import { SiweMessage } from 'siwe';
import { SignInThread } from '../../coordinator/surface/sign-in.js';
import type { CheckedSignIn } from '../../coordinator/surface/sign-in-thread.js';
import { ZkflError } from '../../common/errors.js';

describe('sign-in thread', () => {
  const wallet = Wallet.createRandom();
  const message = new SiweMessage({
    domain: 'localhost:8080',
    address: wallet.address,
    statement: 'Sign in',
    uri: 'http://localhost:8080',
    version: '1',
    chainId: 1,
    nonce: 'abcdefgh12345678',
  }).prepareMessage();
  let signature: string;
  let thread: SignInThread;

  before(async () => (signature = await wallet.signMessage(message)));
  beforeEach(() => (thread = new SignInThread(2)));
  afterEach(() => thread.close());

  const outcome = (checked: CheckedSignIn): unknown =>
    checked.parsed ? [checked.fields.address, checked.valid] : 'unparsed';

  it('parses a sign-in and recovers whether its address signed it, in another thread', async () => {
    expect(outcome(await thread.check(message, signature))).to.deep.equal([wallet.address, true]);
    const other = await Wallet.createRandom().signMessage(message);
    expect(outcome(await thread.check(message, other))).to.deep.equal([wallet.address, false]);
    expect(outcome(await thread.check('not a sign-in', signature))).to.equal('unparsed');
  });

  it('refuses with RATE_LIMITED past the sign-ins it holds waiting', async () => {
    const waiting = [thread.check(message, signature), thread.check(message, signature)];
    let refusal: unknown;
    try {
      await thread.check(message, signature);
    } catch (error) {
      refusal = error;
    }
    expect(refusal).to.be.instanceOf(ZkflError).with.property('code', 'RATE_LIMITED');
    expect((await Promise.all(waiting)).map(outcome)).to.deep.equal([
      [wallet.address, true],
      [wallet.address, true],
    ]);
  });

  it('refuses the sign-ins waiting on a thread that stopped, and starts another for the next', async () => {
    const waiting = thread.check(message, signature);
    await thread.close();
    expect(outcome(await waiting)).to.equal('unparsed');
    expect(outcome(await thread.check(message, signature))).to.deep.equal([wallet.address, true]);
  });
});
