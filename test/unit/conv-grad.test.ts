import { expect } from 'chai';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../../ml/backend.js';

/** The filter gradient of sum(conv2d(x, w)²) on one backend. */
async function filterGradient(
  backend: string,
  x: Float32Array,
  xShape: number[],
  w: Float32Array,
  wShape: number[],
  stride: number,
  pad: 'same' | 'valid',
): Promise<Float32Array> {
  await tf.setBackend(backend);
  return tf.tidy(() => {
    const input = tf.tensor4d(x, xShape as [number, number, number, number]);
    const grad = tf.grad((filter) =>
      tf
        .conv2d(input, filter as tf.Tensor4D, stride, pad)
        .square()
        .sum(),
    );
    return grad(tf.tensor4d(w, wShape as [number, number, number, number])).dataSync() as Float32Array;
  });
}

describe('wasm Conv2DBackpropFilter kernel', () => {
  before(async () => {
    await initBackend('wasm');
    expect(tf.getBackend()).to.equal('wasm');
  });
  after(() => tf.setBackend('wasm'));

  const cases: Array<[number[], number[], number, 'same' | 'valid']> = [
    [[2, 9, 9, 3], [3, 3, 3, 4], 1, 'valid'],
    [[2, 9, 9, 3], [3, 3, 3, 4], 2, 'same'],
    [[1, 8, 7, 2], [5, 5, 2, 3], 2, 'valid'],
    [[3, 12, 12, 1], [5, 5, 1, 6], 1, 'same'],
    [[4, 28, 28, 1], [5, 5, 1, 6], 1, 'valid'],
  ];
  for (const [xShape, wShape, stride, pad] of cases) {
    it(`matches the cpu gradient for x ${xShape.join('×')}, w ${wShape.join('×')}, stride ${stride}, ${pad}`, async () => {
      const x = tf.randomNormal(xShape, 0, 1, 'float32', 7).dataSync() as Float32Array;
      const w = tf.randomNormal(wShape, 0, 1, 'float32', 8).dataSync() as Float32Array;
      const onWasm = await filterGradient('wasm', x, xShape, w, wShape, stride, pad);
      const onCpu = await filterGradient('cpu', x, xShape, w, wShape, stride, pad);
      expect(onWasm.length).to.equal(wShape.reduce((a, b) => a * b, 1));
      const scale = Math.max(...onCpu.map(Math.abs));
      onCpu.forEach((expected, i) => expect(onWasm[i]).to.be.closeTo(expected, 1e-4 * scale));
    });
  }

  it('frees every intermediate buffer it allocates', async () => {
    await tf.setBackend('wasm');
    const x = tf.randomNormal([2, 9, 9, 2]);
    const w = tf.randomNormal([3, 3, 2, 4]);
    const grad = tf.grad((filter) => tf.conv2d(x as tf.Tensor4D, filter as tf.Tensor4D, 2, 'same').sum());
    tf.dispose(grad(w)); // warm-up
    const buffersBefore = tf.engine().backend.numDataIds();
    tf.dispose(grad(w));
    expect(tf.engine().backend.numDataIds()).to.equal(buffersBefore);
    tf.dispose([x, w]);
  });
});
