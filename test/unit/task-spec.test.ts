import { expect } from 'chai';
import { ZkflError } from '../../common/errors.js';
import { parseTaskSpec } from '../../protocol/task-spec.js';

const minimal = {
  model: { preset: 'mlp' },
  rounds: 3,
  clientsPerRound: { min: 2, target: 4 },
  evaluation: { path: '/data/test' },
};

function failure(input: unknown): ZkflError {
  try {
    parseTaskSpec(input);
  } catch (error) {
    return error as ZkflError;
  }
  throw new Error('expected the spec to be refused');
}

describe('task spec', () => {
  it('fills in documented defaults', () => {
    const spec = parseTaskSpec(minimal);
    expect(spec.inputShape).to.deep.equal([28, 28, 1]);
    expect(spec.classes).to.equal(10);
    expect(spec.training).to.deep.equal({
      localEpochs: 1,
      batchSize: 32,
      learningRate: 0.01,
      optimizer: 'sgd',
      proximalMu: 0,
    });
    expect(spec.aggregation.strategy).to.equal('fedavg');
    expect(spec.roundDeadlineSeconds).to.equal(300);
  });

  it('names the offending field', () => {
    expect(failure({ ...minimal, rounds: 0 }).field).to.equal('rounds');
    expect(failure({ ...minimal, clientsPerRound: { min: 3, target: 2 } }).field).to.equal('clientsPerRound.target');
    expect(failure({ ...minimal, training: { learningRate: -1 } }).field).to.equal('training.learningRate');
    expect(failure({ ...minimal, model: { preset: 'resnet' } }).field).to.equal('model');
    // A deadline under a second would retry its attempts in a busy loop.
    expect(failure({ ...minimal, roundDeadlineSeconds: 0.001 }).field).to.equal('roundDeadlineSeconds');
    expect(failure({ ...minimal, surprise: true }).code).to.equal('VALIDATION_FAILED');
    const { evaluation: _evaluation, ...withoutEvaluation } = minimal;
    expect(failure(withoutEvaluation).field).to.equal('evaluation');
  });
});
