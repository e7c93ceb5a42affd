/**
 * How large a model is, from its description alone: its parameter count and the largest activation one example
 * produces, worked out layer by layer without building it. A coordinator bounds tasks with these before it
 * allocates anything (a 400-million-parameter spec must cost nothing to refuse).
 */
import { ZkflError } from '../common/errors.js';
import type { ModelSpec } from '../protocol/task-spec.js';
import { presetDefaults } from './models.js';

export interface ModelSize {
  params: number;
  /** The most values any layer outputs for one example. */
  largestActivation: number;
}

interface LayerDescription {
  class_name: string;
  config: Record<string, unknown>;
}

/** Layer types whose size this module works out: the ones a topology may use at most. */
export const sizedLayerTypes = [
  'InputLayer',
  'Dense',
  'Conv2D',
  'MaxPooling2D',
  'AveragePooling2D',
  'Flatten',
  'Reshape',
  'Dropout',
  'Activation',
] as const;

function invalid(message: string): ZkflError {
  return new ZkflError('VALIDATION_FAILED', `model: ${message}`, 'model');
}

function positiveInts(value: unknown, length: number, what: string): number[] {
  const values = typeof value === 'number' ? Array<number>(length).fill(value) : value;
  if (!Array.isArray(values) || values.length !== length || !values.every((v) => Number.isInteger(v) && v > 0)) {
    throw invalid(`${what} must be ${length} positive integers`);
  }
  return values as number[];
}

/** Output length of a window sliding over `size` values (conv or pooling). */
function windowed(size: number, window: number, stride: number, padding: unknown): number {
  if (padding === 'same') return Math.ceil(size / stride);
  if (padding !== 'valid' && padding !== undefined)
    throw invalid(`padding ${JSON.stringify(padding)} is not supported`);
  const out = Math.floor((size - window) / stride) + 1;
  if (out < 1) throw invalid(`a window of ${window} does not fit an input of ${size}`);
  return out;
}

type LayerSize = { params: number; output: number[] };

/** Params added by a layer and its output shape (without the batch dimension). */
function layerSize(layer: LayerDescription, input: number[]): LayerSize {
  const config = layer.config;
  switch (layer.class_name) {
    case 'InputLayer':
    case 'Dropout':
    case 'Activation':
      return { params: 0, output: input };
    case 'Flatten':
      return { params: 0, output: [input.reduce((a, b) => a * b, 1)] };
    case 'Reshape':
      return reshapeSize(config, input);
    case 'Dense': {
      const [units] = positiveInts(config['units'], 1, 'units');
      const bias = config['use_bias'] !== false;
      return { params: input.at(-1)! * units! + (bias ? units! : 0), output: [...input.slice(0, -1), units!] };
    }
    case 'Conv2D':
    case 'MaxPooling2D':
    case 'AveragePooling2D': {
      const channelsLast = config['data_format'] === undefined || config['data_format'] === 'channels_last';
      if (input.length !== 3 || !channelsLast)
        throw invalid(`${layer.class_name} needs a channels-last [h, w, c] input`);
      const image = input as [number, number, number];
      return layer.class_name === 'Conv2D' ? convSize(config, image) : poolSize(config, image);
    }
    default:
      throw invalid(`layer type ${layer.class_name} is not supported`);
  }
}

function reshapeSize(config: LayerDescription['config'], input: number[]): LayerSize {
  const target = positiveInts(
    config['target_shape'],
    (config['target_shape'] as unknown[] | undefined)?.length ?? 0,
    'target_shape',
  );
  if (target.reduce((a, b) => a * b, 1) !== input.reduce((a, b) => a * b, 1))
    throw invalid(`cannot reshape [${input.join(', ')}] to [${target.join(', ')}]`);
  return { params: 0, output: target };
}

function poolSize(config: LayerDescription['config'], [height, width, channels]: [number, number, number]): LayerSize {
  const pool = positiveInts(config['pool_size'] ?? 2, 2, 'pool_size');
  const strides = positiveInts(config['strides'] ?? pool, 2, 'strides');
  const padding = config['padding'];
  return {
    params: 0,
    output: [
      windowed(height, pool[0]!, strides[0]!, padding),
      windowed(width, pool[1]!, strides[1]!, padding),
      channels,
    ],
  };
}

function convSize(config: LayerDescription['config'], [height, width, channels]: [number, number, number]): LayerSize {
  const [filters] = positiveInts(config['filters'], 1, 'filters');
  const kernel = positiveInts(config['kernel_size'], 2, 'kernel_size');
  const strides = positiveInts(config['strides'] ?? 1, 2, 'strides');
  const dilation = positiveInts(config['dilation_rate'] ?? 1, 2, 'dilation_rate');
  const span = (axis: number): number => (kernel[axis]! - 1) * dilation[axis]! + 1;
  const bias = config['use_bias'] !== false;
  return {
    params: kernel[0]! * kernel[1]! * channels * filters! + (bias ? filters! : 0),
    output: [
      windowed(height, span(0), strides[0]!, config['padding']),
      windowed(width, span(1), strides[1]!, config['padding']),
      filters!,
    ],
  };
}

/** The layers of a preset, described as TF.js would serialize them (ml/models.ts builds the same). */
function presetLayers(
  spec: Exclude<ModelSpec, { topology: unknown }>,
  inputShape: number[],
  classes: number,
): LayerDescription[] {
  const dense = (units: number): LayerDescription => ({ class_name: 'Dense', config: { units } });
  if (spec.preset === 'mlp') {
    return [
      ...(inputShape.length > 1 ? [{ class_name: 'Flatten', config: {} }] : []),
      ...(spec.hidden ?? presetDefaults.mlp.hidden).map(dense),
      dense(classes),
    ];
  }
  const kernelSize = spec.kernelSize ?? presetDefaults.cnn.kernelSize;
  return [
    ...(spec.filters ?? presetDefaults.cnn.filters).flatMap((filters) => [
      { class_name: 'Conv2D', config: { filters, kernel_size: kernelSize } },
      { class_name: 'MaxPooling2D', config: { pool_size: 2 } },
    ]),
    { class_name: 'Flatten', config: {} },
    ...(spec.hidden ?? presetDefaults.cnn.hidden).map(dense),
    dense(classes),
  ];
}

/** A Sequential topology's layers and the input shape its first layer declares (or the task's). */
function topologyLayers(
  topology: Record<string, unknown>,
  inputShape: number[],
): { layers: LayerDescription[]; input: number[] } {
  const root = ('model_config' in topology ? topology['model_config'] : topology) as Partial<LayerDescription> | null;
  const layers = (root?.config as { layers?: unknown } | undefined)?.layers;
  if (root?.class_name !== 'Sequential' || !Array.isArray(layers) || layers.length === 0) {
    throw invalid('a topology must be a Sequential model with at least one layer');
  }
  for (const layer of layers as Array<Partial<LayerDescription> | null>) {
    if (typeof layer?.class_name !== 'string' || typeof layer.config !== 'object' || layer.config === null)
      throw invalid('every layer needs a class_name and a config');
  }
  const declared = (layers[0] as LayerDescription).config['batch_input_shape'];
  const input = Array.isArray(declared)
    ? positiveInts(declared.slice(1), declared.length - 1, 'batch_input_shape')
    : inputShape;
  return { layers: layers as LayerDescription[], input };
}

/**
 * The size of the model `spec` describes. Topologies may use only `allowedLayerTypes` (each one of
 * `sizedLayerTypes`); anything else is refused, as is a shape that does not work out.
 */
export function modelSize(
  spec: ModelSpec,
  inputShape: number[],
  classes: number,
  allowedLayerTypes: readonly string[] = sizedLayerTypes,
): ModelSize {
  const { layers, input } =
    'topology' in spec
      ? topologyLayers(spec.topology, inputShape)
      : {
          layers: presetLayers(spec, inputShape, classes),
          input: inputShape.length === 3 || spec.preset === 'mlp' ? inputShape : [...inputShape, 1],
        };
  let shape = input;
  let params = 0;
  let largestActivation = shape.reduce((a, b) => a * b, 1);
  for (const layer of layers) {
    if (!allowedLayerTypes.includes(layer.class_name)) {
      throw new ZkflError(
        'LIMIT_EXCEEDED',
        `layer type ${layer.class_name} is not allowed here (allowed: ${allowedLayerTypes.join(', ')})`,
        'model',
      );
    }
    const next = layerSize(layer, shape);
    params += next.params;
    shape = next.output;
    largestActivation = Math.max(
      largestActivation,
      shape.reduce((a, b) => a * b, 1),
    );
  }
  return { params, largestActivation };
}
