/** `POST /api/uploads`: an owner's evaluation set, sent to the coordinator as one or two files. */
import { z } from 'zod';

/** A plain file name: no directories, not hidden. */
const fileName = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$/, 'expected a plain file name');

export const uploadSchema = z.strictObject({
  /** File name → base64 content: one CSV file (`.csv` or `.csv.gz`) or an IDX pair (`<name>-images-idx3-ubyte[.gz]`
   * and `<name>-labels-idx1-ubyte[.gz]`). */
  files: z
    .record(fileName, z.string().regex(/^[A-Za-z0-9+/]*={0,2}$/, 'expected base64'))
    .refine((files) => Object.keys(files).length >= 1 && Object.keys(files).length <= 2, 'expected one or two files'),
});
export type Upload = z.infer<typeof uploadSchema>;
