/**
 * A holder's files read into examples in the browser, with the parsers and the image code the Node client uses
 * (ml/): one CSV file in the CLI's format, or a folder of PNG/JPEG images with one subfolder per class, decoded by
 * the browser and resized to the task's input shape. Nothing read here is sent anywhere.
 */
import { ZkflError } from '../../common/errors.js';
import { csvParser } from '../../ml/data-parsers.js';
import type { Dataset } from '../../ml/examples.js';
import { classLabels, type DecodedImage, imageExamples, imageFilePattern } from '../../ml/images.js';
import { checkCompatible } from '../../ml/train.js';

/** A file the holder picked, by its path under the folder picked (or its name alone). */
export interface PickedFile {
  path: string;
  file: File;
}

export interface DataTask {
  inputShape: number[];
  classes: number;
}

/** The most feature values a holder's data may hold here (1 GiB of examples as float32). */
const maxValues = 2 ** 28;

/** The picked files as examples the task's model takes: DATA_MALFORMED (saying why) otherwise. */
export async function readHolderData(files: readonly PickedFile[], task: DataTask): Promise<Dataset> {
  const dataset =
    files.length === 1 && /\.csv$/i.test(files[0]!.path)
      ? await readCsv(files[0]!.file)
      : await readImages(files, task);
  checkCompatible(dataset, task.inputShape, task.classes);
  return dataset;
}

/** A CSV file, read as a stream into the parser the Node client uses. */
async function readCsv(file: File): Promise<Dataset> {
  const parser = csvParser(file.name, { maxValues });
  const reader = file.stream().getReader();
  for (let chunk = await reader.read(); !chunk.done; chunk = await reader.read()) parser.push(chunk.value);
  return parser.end();
}

/** The class folder of a picked image: `folder/class/image.png`; undefined for an image outside any. */
const classOf = (path: string): string | undefined => path.split('/').slice(1, -1).join('/') || undefined;

/** A folder of images, one subfolder per class, made examples one image at a time. */
async function readImages(files: readonly PickedFile[], task: DataTask): Promise<Dataset> {
  const images = files
    .filter(({ path }) => imageFilePattern.test(path) && classOf(path) !== undefined)
    .sort((a, b) => a.path.localeCompare(b.path));
  if (images.length === 0) {
    throw new ZkflError(
      'DATA_MALFORMED',
      'choose one CSV file, or a folder holding one subfolder of PNG or JPEG images per class',
    );
  }
  const labels = classLabels([...new Set(images.map(({ path }) => classOf(path)!))], task.classes);
  const examples = imageExamples(task.inputShape, images.length);
  for (const { path, file } of images) examples.add(await decodeImage(path, file), labels.get(classOf(path)!)!);
  return examples.dataset();
}

/** An image's pixels as the browser decodes them; DATA_MALFORMED, naming the file, when it cannot. */
async function decodeImage(path: string, file: File): Promise<DecodedImage> {
  let bitmap: ImageBitmap;
  try {
    bitmap = await createImageBitmap(file, { premultiplyAlpha: 'none', colorSpaceConversion: 'none' });
  } catch {
    throw new ZkflError('DATA_MALFORMED', `${path} is not a readable PNG or JPEG image`);
  }
  const { width, height } = bitmap;
  const context = new OffscreenCanvas(width, height).getContext('2d')!;
  context.drawImage(bitmap, 0, 0);
  bitmap.close();
  return { width, height, rgba: context.getImageData(0, 0, width, height).data };
}
