import { expect } from 'chai';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../../ml/backend.js';
import { modelSize } from '../../ml/model-size.js';
import { buildModel } from '../../ml/models.js';
import { countParams } from '../../ml/weights.js';
import type { ModelSpec } from '../../protocol/task-spec.js';

describe('model size from the spec alone', () => {
  before(() => initBackend());

  const presets: Array<[ModelSpec, number[], number]> = [
    [{ preset: 'cnn' }, [28, 28, 1], 10],
    [{ preset: 'cnn' }, [28, 28], 10],
    [{ preset: 'cnn', filters: [32, 64], kernelSize: 3, hidden: [128] }, [28, 28, 1], 10],
    [{ preset: 'mlp' }, [28, 28, 1], 10],
    [{ preset: 'mlp', hidden: [20, 30] }, [12], 3],
  ];

  it('counts what building the model allocates, for presets and for their topologies', async () => {
    for (const [spec, shape, classes] of presets) {
      const model = await buildModel(spec, shape, classes);
      const topology = { topology: model.toJSON(null, false) as unknown as Record<string, unknown> };
      expect([modelSize(spec, shape, classes).params, modelSize(topology, shape, classes).params]).to.deep.equal([
        countParams(model),
        countParams(model),
      ]);
      model.dispose();
    }
  });

  it('follows strides, padding, reshapes and layers without bias', () => {
    const model = tf.sequential({
      layers: [
        tf.layers.inputLayer({ inputShape: [28, 28, 1] }),
        tf.layers.conv2d({ filters: 3, kernelSize: 3, padding: 'same', strides: 2 }),
        tf.layers.averagePooling2d({ poolSize: 3, padding: 'same' }),
        tf.layers.reshape({ targetShape: [75] }),
        tf.layers.dropout({ rate: 0.1 }),
        tf.layers.dense({ units: 5, useBias: false }),
        tf.layers.activation({ activation: 'relu' }),
        tf.layers.dense({ units: 10 }),
      ],
    });
    const size = modelSize({ topology: model.toJSON(null, false) as unknown as Record<string, unknown> }, [1], 10);
    expect(size).to.deep.equal({ params: countParams(model), largestActivation: 784 });
    model.dispose();
  });

  it('sizes a 400-million-parameter spec without allocating it', () => {
    expect(modelSize({ preset: 'mlp', hidden: [20000, 20000] }, [784], 10)).to.deep.equal({
      params: 415_920_010,
      largestActivation: 20000,
    });
  });

  it('refuses layer types it may not size or the operator does not allow, and shapes that do not work out', () => {
    const sequential = (...layers: object[]): ModelSpec => ({
      topology: { class_name: 'Sequential', config: { layers } },
    });
    const refusals: Array<[ModelSpec, string, RegExp]> = [
      [{ topology: { class_name: 'Model', config: {} } }, 'VALIDATION_FAILED', /Sequential/],
      [sequential({ class_name: 'LSTM', config: { units: 3 } }), 'LIMIT_EXCEEDED', /LSTM is not allowed/],
      [sequential({ class_name: 'Dense', config: { units: -1 } }), 'VALIDATION_FAILED', /units/],
      [
        sequential({
          class_name: 'Conv2D',
          config: { filters: 2, kernel_size: [9, 9], batch_input_shape: [null, 4, 4, 1] },
        }),
        'VALIDATION_FAILED',
        /does not fit/,
      ],
    ];
    for (const [spec, code, message] of refusals) {
      expect(() => modelSize(spec, [4], 2))
        .to.throw(message)
        .with.property('code', code);
    }
    expect(() => modelSize({ preset: 'cnn' }, [28, 28, 1], 10, ['Dense', 'Flatten'])).to.throw(/Conv2D is not allowed/);
  });
});
