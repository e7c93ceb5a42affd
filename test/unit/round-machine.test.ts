import { expect } from 'chai';
import { assertTransition, decideClose, samplesNeeded } from '../../coordinator/tasks/round-machine.js';

const tally = { accepted: 0, pending: 0, verifying: 0, min: 2, target: 4, deadlinePassed: false, candidates: 0 };

describe('round state machine', () => {
  it('allows only open → training → aggregating → evaluated, and retries in training', () => {
    expect(() => assertTransition('open', 'training')).not.to.throw();
    expect(() => assertTransition('training', 'training')).not.to.throw();
    expect(() => assertTransition('training', 'aggregating')).not.to.throw();
    expect(() => assertTransition('aggregating', 'evaluated')).not.to.throw();
    expect(() => assertTransition('open', 'aggregating')).to.throw(/cannot go from open to aggregating/);
    expect(() => assertTransition('evaluated', 'training')).to.throw();
    expect(() => assertTransition('aggregating', 'training')).to.throw();
  });

  it('aggregates as soon as the target is reached', () => {
    expect(decideClose({ ...tally, accepted: 4, pending: 1 })).to.equal('aggregate');
  });

  it('waits while sampled clients may still answer before the deadline', () => {
    expect(decideClose({ ...tally, accepted: 3, pending: 1 })).to.equal('wait');
  });

  it('aggregates early when nobody is left to wait for and the minimum arrived', () => {
    expect(decideClose({ ...tally, accepted: 2, pending: 0 })).to.equal('aggregate');
  });

  it('at the deadline aggregates with the minimum, otherwise retries with clients not asked yet', () => {
    expect(decideClose({ ...tally, accepted: 2, pending: 2, deadlinePassed: true })).to.equal('aggregate');
    expect(decideClose({ ...tally, accepted: 1, pending: 2, deadlinePassed: true, candidates: 1 })).to.equal('retry');
  });

  it('is short at the deadline when too few arrived and nobody is left to ask, never retrying with nobody', () => {
    expect(decideClose({ ...tally, accepted: 1, pending: 1, deadlinePassed: true })).to.equal('short');
    expect(decideClose({ ...tally, accepted: 0, pending: 0, deadlinePassed: true })).to.equal('short');
  });

  it('waits past the deadline for updates being verified, then decides', () => {
    const verifying = { ...tally, accepted: 1, pending: 1, verifying: 1, deadlinePassed: true };
    expect(decideClose(verifying)).to.equal('wait');
    expect(decideClose({ ...verifying, accepted: 2, pending: 0, verifying: 0 })).to.equal('aggregate');
  });

  it('keeps waiting for new clients before the deadline when too few answered', () => {
    expect(decideClose({ ...tally, accepted: 1, pending: 0 })).to.equal('wait');
  });

  it('samples only what is missing towards the target', () => {
    expect(samplesNeeded({ accepted: 1, pending: 1, target: 4 })).to.equal(2);
    expect(samplesNeeded({ accepted: 3, pending: 2, target: 4 })).to.equal(0);
  });
});
