/**
 * Noise: an update that points nowhere the owner's data asks the model to go — random values at the norm bound, the
 * cheapest free ride. In a round's game such an update is worth whatever its luck along the scoring loss's curve
 * happens to be: in `bench:economics` over seeds 1–7, pure noise beside four holders was paid up to 27 % of the
 * median holder in the mean's game, and it entered the model. No score of one round can tell that luck from a weak
 * honest contribution, so the test is on the update's direction, before any game.
 *
 * Any update trained on labelled examples of the task's classes starts as a sum of per-class loss gradients, and
 * stays near their span over a few local steps. The test takes the owner's scoring set at w_r, the gradient of its
 * mean loss on each class's examples (the classes taken modulo `maxDirections`), and measures how much of a term's
 * length lies in their span: share = ‖P Δ‖ / ‖Δ‖. A direction drawn at random in d dimensions puts a share² of about
 * χ²_m / d in an m-dimensional span, and by Laurent and Massart's bound ("Adaptive estimation of a quadratic
 * functional by model selection", Annals of Statistics 2000, lemma 1) P(χ²_m ≥ m + 2√(mx) + 2x) ≤ e^−x. With
 * x = ln 10^6 the floor is √((m + 2√(mx) + 2x) / d): noise passes it with probability under 10^−6 a round. In
 * bench:economics (seeds 1–7) every holder's update (IID and label-skewed, one with two classes only) had a share of
 * at least 0.35, noise 0.05–0.10, and the floor for the demo's CNN (m = 10, d = 2,724) is 0.15.
 *
 * What it does not stop: an update with a real gradient component of at least the floor's share, the rest noise —
 * which takes computing gradients on labelled data, that is, training. Its value is then judged by the game, luck
 * included. A model with d not well above m gets no floor (it would be ≥ 1): nothing is judged noise.
 *
 * The gradients come from TF.js, whose last bits another machine may not reproduce, so the audit recomputes each
 * share and accepts a verdict within `auditTolerance` of the floor (verifier/recompute.ts).
 */
import * as tf from '@tensorflow/tfjs';
import type { Dataset } from './dataset.js';
import { exampleSize } from './examples.js';
import { groupTerms, type WeightedUpdate } from './replicas.js';
import { countParams, setFlatWeights } from './weights.js';

/** Per-class gradients at most: over this many classes, class c joins direction c mod maxDirections. */
export const maxDirections = 64;
/** −ln of the probability that a random direction passes the floor in a round. */
const surprise = Math.log(1e6);
/** How far from the floor a share the audit recomputes may be and still support the recorded verdict. */
export const auditTolerance = 1e-3;

/** √((m + 2√(mx) + 2x)/d): the share of its length a random direction in d dimensions puts in an m-dimensional span only with probability ≤ 10^−6. */
export function noiseFloor(spanDimension: number, size: number): number {
  const m = spanDimension;
  return Math.sqrt((m + 2 * Math.sqrt(m * surprise) + 2 * surprise) / size);
}

/** An orthonormal basis (float64) of the span of the per-class gradients of the mean loss on `set` at `global`. */
export function classGradientBasis(
  model: tf.LayersModel,
  global: Float32Array,
  set: Dataset,
  inputShape: number[],
  classes: number,
): Float64Array[] {
  setFlatWeights(model, global);
  const basis: Float64Array[] = [];
  const directions = Math.min(classes, maxDirections);
  for (let direction = 0; direction < directions; direction++) {
    const rows: number[] = [];
    set.labels.forEach((label, row) => {
      if (label % directions === direction) rows.push(row);
    });
    if (rows.length === 0) continue;
    const gradient = lossGradient(model, set, rows, inputShape, classes);
    orthogonalise(gradient, basis);
    const length = norm(gradient);
    // A gradient (numerically) inside the span so far adds no direction.
    if (length > 1e-9) basis.push(gradient.map((value) => value / length));
  }
  return basis;
}

/** The gradient, flattened in the order of getFlatWeights, of the mean cross-entropy on `rows` of `set`. */
function lossGradient(
  model: tf.LayersModel,
  set: Dataset,
  rows: readonly number[],
  inputShape: number[],
  classes: number,
): Float64Array {
  const size = exampleSize(set);
  const features = new Float32Array(rows.length * size);
  const labels = new Int32Array(rows.length);
  rows.forEach((row, i) => {
    features.set(set.features.subarray(row * size, (row + 1) * size), i * size);
    labels[i] = set.labels[row]!;
  });
  const variables = model.trainableWeights.map((weight) => weight.read() as tf.Variable);
  const { value, grads } = tf.variableGrads(
    () =>
      tf.tidy(() => {
        const xs = tf.tensor(features, [rows.length, ...inputShape]);
        const ys = tf.oneHot(tf.tensor1d(labels, 'int32'), classes);
        return tf.losses.softmaxCrossEntropy<tf.Tensor, tf.Scalar>(ys, model.apply(xs) as tf.Tensor);
      }),
    variables,
  );
  // In getFlatWeights' order (all of the model's weights), a weight that does not train left at 0.
  const flat = new Float64Array(countParams(model));
  let offset = 0;
  for (const weight of model.weights) {
    const gradient = weight.trainable ? grads[(weight.read() as tf.Variable).name] : undefined;
    if (gradient) flat.set(gradient.dataSync(), offset);
    offset += weight.read().size;
  }
  tf.dispose([value, ...Object.values(grads)]);
  return flat;
}

/** Removes from `vector`, in place, its components along the orthonormal `basis` (Gram–Schmidt). */
function orthogonalise(vector: Float64Array, basis: readonly Float64Array[]): void {
  for (const unit of basis) {
    const along = dot(vector, unit);
    for (let i = 0; i < vector.length; i++) vector[i]! -= along * unit[i]!;
  }
}

/** ‖P Δ‖ / ‖Δ‖: the share of the term's length in the basis's span (0 for a zero term). */
export function spanShare(basis: readonly Float64Array[], term: ArrayLike<number>): number {
  const length = norm(term);
  if (length === 0) return 0;
  const inSpan = basis.reduce((sum, unit) => sum + dot(term, unit) ** 2, 0);
  return Math.sqrt(inSpan) / length;
}

/** A round's test: the floor for the scoring set's span at w_r, and each group's share (its term's). */
export interface RoundSignal {
  floor: number;
  shares: number[];
}

/** The round's test on its groups of replicas (each group's term, ml/replicas.ts), at w_r = `global`. */
export function roundSignal(
  model: tf.LayersModel,
  global: Float32Array,
  round: { updates: readonly WeightedUpdate[]; groups: readonly number[][]; chunkSize: number },
  scoring: { set: Dataset; inputShape: number[]; classes: number },
): RoundSignal {
  const basis = classGradientBasis(model, global, scoring.set, scoring.inputShape, scoring.classes);
  const terms = groupTerms(round.updates, round.groups, round.chunkSize, global.length);
  return { floor: noiseFloor(basis.length, global.length), shares: terms.map((term) => spanShare(basis, term)) };
}

/** Whether the test finds a group noise: a nonzero term (zeros are left out as such) with a share at most the floor. */
export function isNoise({ floor, shares }: RoundSignal, group: number): boolean {
  const share = shares[group]!;
  return floor < 1 && share > 0 && share <= floor;
}

/**
 * Whether a recorded verdict on `group` (noise or not) stands against the share computed again: it agrees with the
 * test, or the share is within `auditTolerance` of the floor, where another machine's last bits may tip it either way.
 */
export function supportsVerdict(signal: RoundSignal, group: number, recordedNoise: boolean): boolean {
  const near = signal.floor < 1 && Math.abs(signal.shares[group]! - signal.floor) <= auditTolerance;
  return near || isNoise(signal, group) === recordedNoise;
}

/** The groups the test finds noise. */
export function noiseGroups(signal: RoundSignal): number[] {
  return signal.shares.flatMap((_, g) => (isNoise(signal, g) ? [g] : []));
}

function dot(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let sum = 0;
  for (let i = 0; i < a.length; i++) sum += a[i]! * b[i]!;
  return sum;
}

function norm(values: ArrayLike<number>): number {
  return Math.sqrt(dot(values, values));
}
