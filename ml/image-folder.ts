/**
 * A data holder's folder of images in Node: `<dir>/<class>/<image>.png|.jpg`, decoded with pure-JS decoders (pngjs,
 * jpeg-js) and made examples of a task's input shape by ml/images.ts, the code a browser uses on what its canvas
 * decodes. Read by `zkfl client` only: a coordinator reads CSV and IDX files, whose size is known before decoding.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import jpeg from 'jpeg-js';
import { PNG } from 'pngjs';
import { ZkflError } from '../common/errors.js';
import type { Dataset } from './examples.js';
import { classLabels, type DecodedImage, imageExamples, imageFilePattern } from './images.js';

/** The class folders of `path` (subdirectories holding at least one image), or none if it is not an image folder. */
function classFolders(path: string): string[] {
  if (!statSync(path, { throwIfNoEntry: false })?.isDirectory()) return [];
  return readdirSync(path, { withFileTypes: true })
    .filter((entry) => entry.isDirectory())
    .map((entry) => entry.name)
    .filter((name) => readdirSync(join(path, name)).some((file) => imageFilePattern.test(file)));
}

/**
 * Whether `path` is a folder of class folders of images. A folder that also holds a CSV file or IDX files is read as
 * those (ml/dataset.ts), as it was before folders of images were.
 */
export function isImageFolder(path: string): boolean {
  if (classFolders(path).length === 0) return false;
  return !readdirSync(path).some((name) => /\.csv(\.gz)?$|-idx\d-ubyte(\.gz)?$/.test(name));
}

/** Every image under `path`'s class folders, as examples of the task's input shape, labelled by folder. */
export function loadImageFolder(path: string, task: { inputShape: number[]; classes: number }): Dataset {
  const folders = classFolders(path);
  const labels = classLabels(folders, task.classes);
  const files = folders.flatMap((folder) =>
    readdirSync(join(path, folder))
      .filter((file) => imageFilePattern.test(file))
      .sort()
      .map((file) => ({ file: join(path, folder, file), label: labels.get(folder)! })),
  );
  const examples = imageExamples(task.inputShape, files.length);
  for (const { file, label } of files) examples.add(decodeImage(file), label);
  return examples.dataset();
}

/** A PNG or JPEG file's pixels; a file that is neither is DATA_MALFORMED, naming it. */
export function decodeImage(file: string): DecodedImage {
  const bytes = readFileSync(file);
  try {
    if (/\.png$/i.test(file)) {
      const png = PNG.sync.read(bytes);
      return { width: png.width, height: png.height, rgba: png.data };
    }
    const decoded = jpeg.decode(bytes, { useTArray: true, formatAsRGBA: true });
    return { width: decoded.width, height: decoded.height, rgba: decoded.data };
  } catch (error) {
    throw new ZkflError('DATA_MALFORMED', `${file} is not a readable image: ${(error as Error).message}`);
  }
}
