/**
 * A folder of images as a data set, on any platform: one subfolder per class, each image decoded to RGBA pixels (as
 * a browser's canvas or a Node decoder gives them), resized to the task's input shape [height, width, channels] and
 * scaled to [0, 1], the scale IDX images are read at. Decoding and listing files are the platform's (ml/dataset.ts in
 * Node); this module imports nothing platform-specific.
 *
 * Classes: subfolders named by whole numbers are those labels ("0" … "9"); otherwise the names in alphanumeric order
 * are labels 0, 1, … (as Keras's image_dataset_from_directory infers them). Pixels: bilinear resampling between
 * pixel centres, averaged over each output pixel's footprint when shrinking; one channel is luminance (ITU-R BT.601),
 * three are RGB; a transparent pixel counts as black (alpha scales its colour), the background of MNIST-like data.
 */
import { ZkflError } from '../common/errors.js';
import type { Dataset } from './examples.js';

/** Decoded pixels, row-major RGBA, 4 bytes per pixel. */
export interface DecodedImage {
  width: number;
  height: number;
  rgba: Uint8Array | Uint8ClampedArray;
}

/** Files names a class folder may hold: what the decoders read. */
export const imageFilePattern = /\.(png|jpe?g)$/i;

/** The label of each class folder (see the module comment), refusing more classes than the task has. */
export function classLabels(folders: readonly string[], classes: number): Map<string, number> {
  const numbered = folders.every((name) => /^\d+$/.test(name));
  const ordered = [...folders].sort((a, b) => a.localeCompare(b, 'en', { numeric: true }));
  const labels = new Map(ordered.map((name, i) => [name, numbered ? Number(name) : i]));
  const outside = [...labels].find(([, label]) => label >= classes);
  if (outside) {
    throw new ZkflError(
      'DATA_MALFORMED',
      `class folder ${outside[0]} would be label ${outside[1]}; the task has ${classes} classes`,
    );
  }
  return labels;
}

/**
 * Examples of shape `inputShape` ([height, width, channels], channels 1 or 3) made from `count` images added one at a
 * time: only the small examples are kept, never the decoded images (a folder of photos would not fit in memory).
 */
export function imageExamples(
  inputShape: readonly number[],
  count: number,
): { add(image: DecodedImage, label: number): void; dataset(): Dataset } {
  const [height, width, channels] = inputShape;
  if (inputShape.length !== 3 || (channels !== 1 && channels !== 3)) {
    throw new ZkflError(
      'DATA_MALFORMED',
      `images need a task input of [height, width, 1 or 3 channels], not [${inputShape.join(', ')}]`,
    );
  }
  const size = height! * width! * channels;
  const features = new Float32Array(count * size);
  const labels = new Int32Array(count);
  let added = 0;
  return {
    add(image, label) {
      writeExample(image, height!, width!, channels, features.subarray(added * size, (added + 1) * size));
      labels[added++] = label;
    },
    dataset: () => ({ features, labels, count: added, exampleShape: [height!, width!, channels] }),
  };
}

/** One image resized into `out` (height × width × channels values in [0, 1]). */
function writeExample(image: DecodedImage, height: number, width: number, channels: number, out: Float32Array): void {
  const rows = axisSamples(image.height, height);
  const columns = axisSamples(image.width, width);
  const rgb = [0, 0, 0];
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      averageColour(image, rows[y]!, columns[x]!, rgb);
      const at = (y * width + x) * channels;
      if (channels === 1) out[at] = 0.299 * rgb[0]! + 0.587 * rgb[1]! + 0.114 * rgb[2]!;
      else out.set(rgb, at);
    }
  }
}

/** Where an output pixel samples its source axis: bilinear taps (position, weight), over its whole footprint. */
type Taps = Array<[number, number]>;

/**
 * For each of `to` output positions along an axis of `from` source pixels: the source pixels it reads and their
 * weights. Growing, one bilinear sample at the output pixel's centre; shrinking, one per source pixel its footprint
 * covers, averaged, so that no source pixel is skipped.
 */
function axisSamples(from: number, to: number): Taps[] {
  const scale = from / to;
  const samplesPerPixel = Math.max(1, Math.ceil(scale));
  return Array.from({ length: to }, (_, i) => {
    const taps: Taps = [];
    for (let s = 0; s < samplesPerPixel; s++) {
      const centre = (i + (s + 0.5) / samplesPerPixel) * scale - 0.5;
      const clamped = Math.min(Math.max(centre, 0), from - 1);
      const low = Math.floor(clamped);
      const high = Math.min(low + 1, from - 1);
      const t = clamped - low;
      taps.push([low, (1 - t) / samplesPerPixel], [high, t / samplesPerPixel]);
    }
    return taps;
  });
}

/** The weighted colour of the source taps, in [0, 1], a transparent pixel counting as black. */
function averageColour(image: DecodedImage, rows: Taps, columns: Taps, rgb: number[]): void {
  rgb.fill(0);
  for (const [row, rowWeight] of rows) {
    for (const [column, columnWeight] of columns) {
      const at = (row * image.width + column) * 4;
      const weight = (rowWeight * columnWeight * image.rgba[at + 3]!) / (255 * 255);
      for (let c = 0; c < 3; c++) rgb[c]! += weight * image.rgba[at + c]!;
    }
  }
}
