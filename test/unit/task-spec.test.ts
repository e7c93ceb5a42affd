import { expect } from 'chai';
import { parseTaskSpec } from '../../protocol/task-spec.js';
import { specRefusal } from '../helpers/spec.js';

const minimal = {
  model: { preset: 'mlp' },
  rounds: 3,
  clientsPerRound: { min: 2, target: 4 },
  evaluation: { path: '/data/test' },
};

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
    expect(specRefusal({ ...minimal, rounds: 0 }).field).to.equal('rounds');
    expect(specRefusal({ ...minimal, clientsPerRound: { min: 3, target: 2 } }).field).to.equal(
      'clientsPerRound.target',
    );
    expect(specRefusal({ ...minimal, training: { learningRate: -1 } }).field).to.equal('training.learningRate');
    expect(specRefusal({ ...minimal, model: { preset: 'resnet' } }).field).to.equal('model');
    // A deadline under a second would retry its attempts in a busy loop.
    expect(specRefusal({ ...minimal, roundDeadlineSeconds: 0.001 }).field).to.equal('roundDeadlineSeconds');
    expect(specRefusal({ ...minimal, surprise: true }).code).to.equal('VALIDATION_FAILED');
    const { evaluation: _evaluation, ...withoutEvaluation } = minimal;
    expect(specRefusal(withoutEvaluation).field).to.equal('evaluation');
  });
});
