import { expect } from 'chai';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import jpeg from 'jpeg-js';
import { PNG } from 'pngjs';
import { isImageFolder, loadImageFolder } from '../../ml/image-folder.js';
import { classLabels, type DecodedImage, imageExamples } from '../../ml/images.js';
import { tempDir } from '../helpers/temp.js';

/** A `width`×`height` image whose pixel (x, y) has the RGBA `colour(x, y)`. */
function image(width: number, height: number, colour: (x: number, y: number) => number[]): DecodedImage {
  const rgba = new Uint8Array(width * height * 4);
  for (let y = 0; y < height; y++) for (let x = 0; x < width; x++) rgba.set(colour(x, y), (y * width + x) * 4);
  return { width, height, rgba };
}

const codeOf = (run: () => unknown): string | undefined => {
  try {
    run();
  } catch (error) {
    return (error as { code?: string }).code;
  }
  return undefined;
};

/** The images, added one at a time, as examples of `shape`. */
function imagesDataset(images: Array<{ image: DecodedImage; label: number }>, shape: number[]) {
  const examples = imageExamples(shape, images.length);
  for (const { image, label } of images) examples.add(image, label);
  return examples.dataset();
}

const grey = (value: number) => [value, value, value, 255];
const values = (features: Float32Array): number[] => Array.from(features, (v) => Math.round(v * 1000) / 1000);

describe('images as examples', () => {
  it('labels numbered class folders by their numbers, named ones in alphanumeric order', () => {
    expect([...classLabels(['3', '10', '0'], 11)]).to.deep.equal([
      ['0', 0],
      ['3', 3],
      ['10', 10],
    ]);
    expect([...classLabels(['trousers', 'bag', 'coat'], 3)]).to.deep.equal([
      ['bag', 0],
      ['coat', 1],
      ['trousers', 2],
    ]);
    expect(codeOf(() => classLabels(['0', '10'], 10))).to.equal('DATA_MALFORMED');
    expect(codeOf(() => classLabels(['a', 'b', 'c'], 2))).to.equal('DATA_MALFORMED');
  });

  it('keeps an image of the input size as it is, one grey value per pixel in [0, 1]', () => {
    const dataset = imagesDataset([{ image: image(2, 2, (x, y) => grey(x * (255 - 51 * y))), label: 4 }], [2, 2, 1]);
    expect(dataset.exampleShape).to.deep.equal([2, 2, 1]);
    expect(values(dataset.features)).to.deep.equal([0, 1, 0, 0.8]);
    expect(Array.from(dataset.labels)).to.deep.equal([4]);
  });

  it('shrinks by averaging every source pixel, and grows a flat image flat', () => {
    // 2×2 blocks of one value each: shrunk by 2, each block is one pixel.
    const blocks = image(4, 4, (x, y) => grey(((x >> 1) + 2 * (y >> 1)) * 51));
    expect(values(imagesDataset([{ image: blocks, label: 0 }], [2, 2, 1]).features)).to.deep.equal([0, 0.2, 0.4, 0.6]);
    // A 1-pixel-wide stripe in 3: shrinking to 1 pixel counts it for a third, never skips it.
    const stripe = image(3, 3, (x) => grey(x === 1 ? 255 : 0));
    expect(values(imagesDataset([{ image: stripe, label: 0 }], [1, 1, 1]).features)).to.deep.equal([0.333]);
    const flat = image(3, 2, () => grey(102));
    expect(values(imagesDataset([{ image: flat, label: 0 }], [7, 5, 1]).features)).to.deep.equal(Array(35).fill(0.4));
  });

  it('keeps RGB for three channels, takes luminance for one, and counts a transparent pixel as black', () => {
    const red = image(1, 1, () => [255, 0, 0, 255]);
    expect(values(imagesDataset([{ image: red, label: 0 }], [1, 1, 3]).features)).to.deep.equal([1, 0, 0]);
    expect(values(imagesDataset([{ image: red, label: 0 }], [1, 1, 1]).features)).to.deep.equal([0.299]);
    const halfSeen = image(1, 1, () => [255, 255, 255, 51]);
    expect(values(imagesDataset([{ image: halfSeen, label: 0 }], [1, 1, 1]).features)).to.deep.equal([0.2]);
  });

  it('refuses an input shape that is not an image of 1 or 3 channels', () => {
    const one = [{ image: image(1, 1, () => grey(0)), label: 0 }];
    expect(codeOf(() => imagesDataset(one, [784]))).to.equal('DATA_MALFORMED');
    expect(codeOf(() => imagesDataset(one, [28, 28, 2]))).to.equal('DATA_MALFORMED');
  });
});

describe('a folder of images on disk', () => {
  const dir = tempDir();

  function writePng(file: string, colour: (x: number, y: number) => number[], width = 4, height = 4): void {
    const png = new PNG({ width, height });
    png.data.set(image(width, height, colour).rgba);
    writeFileSync(file, PNG.sync.write(png));
  }

  it('reads PNG and JPEG files of each class folder as examples of the task, labelled by folder', () => {
    const folder = join(dir, 'photos');
    for (const name of ['bag', 'coat']) mkdirSync(join(folder, name), { recursive: true });
    writePng(join(folder, 'bag', 'b.png'), () => grey(255), 8, 8);
    writePng(join(folder, 'bag', 'a.png'), () => grey(0));
    const jpg = jpeg.encode({ data: image(6, 6, () => grey(128)).rgba, width: 6, height: 6 }, 95);
    writeFileSync(join(folder, 'coat', 'c.JPG'), jpg.data);
    writeFileSync(join(folder, 'coat', 'notes.txt'), 'not an image');

    expect(isImageFolder(folder)).to.equal(true);
    const dataset = loadImageFolder(folder, { inputShape: [2, 2, 1], classes: 10 });
    expect([dataset.count, Array.from(dataset.labels)]).to.deep.equal([3, [0, 0, 1]]);
    expect(values(dataset.features.subarray(0, 8))).to.deep.equal([0, 0, 0, 0, 1, 1, 1, 1]);
    // JPEG is lossy: close to 128/255.
    for (const value of dataset.features.subarray(8)) expect(value).to.be.closeTo(128 / 255, 0.02);
  });

  it('is not a folder of images without class folders of images, nor beside a CSV file, and names a file it cannot decode', () => {
    // A folder holding a CSV file is read as that file, whatever image folders sit beside it.
    const mixed = join(dir, 'mixed');
    mkdirSync(join(mixed, '0'), { recursive: true });
    writePng(join(mixed, '0', 'a.png'), () => grey(0));
    writeFileSync(join(mixed, 'data.csv'), '0.5,1\n');
    expect(isImageFolder(mixed)).to.equal(false);
    mkdirSync(join(dir, 'empty', 'nothing'), { recursive: true });
    expect(isImageFolder(join(dir, 'empty'))).to.equal(false);
    expect(isImageFolder(join(dir, 'missing'))).to.equal(false);
    const broken = join(dir, 'broken');
    mkdirSync(join(broken, '0'), { recursive: true });
    writeFileSync(join(broken, '0', 'x.png'), 'not a png');
    expect(() => loadImageFolder(broken, { inputShape: [2, 2, 1], classes: 10 }))
      .to.throw(/x\.png is not a readable image/)
      .with.property('code', 'DATA_MALFORMED');
  });
});
