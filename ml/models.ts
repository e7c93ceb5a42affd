/**
 * The models a task can train: built-in presets or a TF.js layers-model topology. Every model ends in a linear
 * layer of `classes` logits; training applies softmax cross-entropy to them.
 */
import * as tf from '@tensorflow/tfjs';
import type { ModelSpec } from '../protocol/task-spec.js';

/**
 * `cnn` defaults to the "simple CNN" of NIID-Bench (Li et al., 2021): two 5×5 conv + max-pool blocks (6 and 16
 * filters) and dense layers of 120 and 84 units. `mlp` defaults to one hidden layer of 64 units.
 */
export const presetDefaults = {
  mlp: { hidden: [64] },
  cnn: { filters: [6, 16], kernelSize: 5, hidden: [120, 84] },
} as const;

export async function buildModel(
  spec: ModelSpec,
  inputShape: number[],
  classes: number,
  seed = 1,
): Promise<tf.LayersModel> {
  if ('topology' in spec) return buildFromTopology(spec.topology);
  const model = tf.sequential();
  let layerSeed = seed;
  const init = () => tf.initializers.glorotUniform({ seed: layerSeed++ });
  if (spec.preset === 'cnn') {
    const filters = spec.filters ?? presetDefaults.cnn.filters;
    const kernelSize = spec.kernelSize ?? presetDefaults.cnn.kernelSize;
    const shape = inputShape.length === 3 ? inputShape : [...inputShape, 1];
    filters.forEach((count, index) => {
      model.add(
        tf.layers.conv2d({
          ...(index === 0 ? { inputShape: shape } : {}),
          filters: count,
          kernelSize,
          activation: 'relu',
          kernelInitializer: init(),
        }),
      );
      model.add(tf.layers.maxPooling2d({ poolSize: 2 }));
    });
    model.add(tf.layers.flatten());
  } else if (inputShape.length > 1) {
    model.add(tf.layers.flatten({ inputShape }));
  }
  // The first layer declares the input shape, unless a conv or flatten layer already did (1-D input, e.g. CSV).
  const first = (): { inputShape?: number[] } => (model.layers.length === 0 ? { inputShape } : {});
  const hidden = spec.hidden ?? presetDefaults[spec.preset].hidden;
  for (const units of hidden)
    model.add(tf.layers.dense({ ...first(), units, activation: 'relu', kernelInitializer: init() }));
  model.add(tf.layers.dense({ ...first(), units: classes, kernelInitializer: init() }));
  return model;
}

function buildFromTopology(topology: Record<string, unknown>): Promise<tf.LayersModel> {
  // Accepts a model.json's `modelTopology` (with `model_config`) as well as a bare `model.toJSON()` config.
  const modelTopology = (
    'model_config' in topology ? topology['model_config'] : topology
  ) as tf.io.ModelJSON['modelTopology'];
  return tf.models.modelFromJSON({ modelTopology });
}
