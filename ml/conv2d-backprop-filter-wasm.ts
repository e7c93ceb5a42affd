/**
 * `Conv2DBackpropFilter` for the wasm backend, which ships without one (so CNNs cannot train on it).
 *
 * The filter gradient of a stride-s convolution is itself a convolution, computed here with the backend's own
 * PadV2, Transpose, Conv2D and Slice kernels:
 *   dW[kh, kw, ci, co] = Σ_{n, oh, ow} xPadded[n, oh·s + kh, ow·s + kw, ci] · dy[n, oh, ow, co]
 * Treating input channels as the batch and the batch as channels, this is
 *   conv2d(x' = xPadded^T[ci, h, w, n], f = dy^T[oh, ow, n, co], stride 1, dilation s)  →  [ci, kh, kw, co],
 * sliced to the kernel size (when (h − kh) is not a multiple of s the conv reaches a row or column further)
 * and transposed back to [kh, kw, ci, co].
 */
import * as tf from '@tensorflow/tfjs';
import type { KernelConfig, KernelFunc, TensorInfo } from '@tensorflow/tfjs';

type Backend = Parameters<KernelFunc>[0]['backend'] & { disposeData(dataId: object): boolean };

function runKernel(name: string, backend: Backend, inputs: Record<string, TensorInfo>, attrs: object): TensorInfo {
  const kernel = tf.getKernel(name, 'wasm');
  if (!kernel) throw new Error(`wasm backend has no ${name} kernel`);
  return kernel.kernelFunc({ inputs, backend, attrs: attrs as never }) as TensorInfo;
}

/** `x` (NHWC) padded with zeros above and below, left and right. */
function padSpatially(wasm: Backend, x: TensorInfo, rows: [number, number], columns: [number, number]): TensorInfo {
  const paddings = [[0, 0], rows, columns, [0, 0]];
  return runKernel('PadV2', wasm, { x }, { paddings, constantValue: 0 });
}

const conv2dBackpropFilter: KernelFunc = ({ inputs, backend, attrs }) => {
  const wasm = backend as Backend;
  const { x, dy } = inputs as { x: TensorInfo; dy: TensorInfo };
  const { strides, pad, dataFormat, dimRoundingMode, filterShape } = attrs as unknown as {
    strides: [number, number] | number;
    pad: 'valid' | 'same' | number | [[number, number], [number, number], [number, number], [number, number]];
    dataFormat: 'NHWC' | 'NCHW';
    dimRoundingMode?: 'floor' | 'round' | 'ceil';
    filterShape: [number, number, number, number];
  };
  if (dataFormat === 'NCHW') throw new Error('wasm Conv2DBackpropFilter supports only NHWC');
  const info = tf.backend_util.computeConv2DInfo(
    x.shape as [number, number, number, number],
    filterShape,
    strides,
    1,
    pad,
    dimRoundingMode,
  );
  const [kh, kw, inChannels, outChannels] = filterShape;
  const { top, bottom, left, right } = info.padInfo;
  const temporaries: TensorInfo[] = [];
  const keep = (t: TensorInfo): TensorInfo => (temporaries.push(t), t);
  try {
    const padded = top || bottom || left || right ? keep(padSpatially(wasm, x, [top, bottom], [left, right])) : x;
    const xT = keep(runKernel('Transpose', wasm, { x: padded }, { perm: [3, 1, 2, 0] }));
    const dyT = keep(runKernel('Transpose', wasm, { x: dy }, { perm: [1, 2, 0, 3] }));
    const conv = keep(
      runKernel(
        'Conv2D',
        wasm,
        { x: xT, filter: dyT },
        {
          strides: [1, 1],
          pad: 'valid',
          dataFormat: 'NHWC',
          dilations: [info.strideHeight, info.strideWidth],
        },
      ),
    );
    const exact =
      conv.shape[1] === kh && conv.shape[2] === kw
        ? conv
        : keep(runKernel('Slice', wasm, { x: conv }, { begin: [0, 0, 0, 0], size: [inChannels, kh, kw, outChannels] }));
    return runKernel('Transpose', wasm, { x: exact }, { perm: [1, 2, 0, 3] });
  } finally {
    for (const t of temporaries) wasm.disposeData(t.dataId);
  }
};

export const wasmConv2DBackpropFilterKernel: KernelConfig = {
  kernelName: 'Conv2DBackpropFilter',
  backendName: 'wasm',
  kernelFunc: conv2dBackpropFilter,
};
