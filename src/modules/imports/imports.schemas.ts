import { z } from '@hono/zod-openapi';

/** How to send an upload, for every message that must say it. */
export const HOW_TO_UPLOAD =
  'send multipart/form-data with the CSV file in a field named `file` (for example `curl -F file=@items.csv`)';

export const Upload = z
  .object({
    file: z
      .instanceof(File, {
        error: (issue) =>
          issue.input === undefined
            ? `no file in the multipart field \`file\`: ${HOW_TO_UPLOAD}`
            : `must be a file upload, not text: ${HOW_TO_UPLOAD}`,
      })
      .openapi({
        type: 'string',
        format: 'binary',
        description:
          "A CSV file with a header row: name, price, and optionally description, tags (separated by ;), status. A cell starting with `'` before `=`, `+`, `-`, `@`, tab or CR loses that quote: it is how an export neutralises formulas.",
      }),
  })
  .openapi('ItemImportUpload', {
    example: { file: 'name,price,tags\nWatering can,24.50,garden;tools\n' },
  });

export const ImportAccepted = z
  .object({ jobId: z.uuid() })
  .openapi('ImportAccepted', { example: { jobId: '0193a5b0-7e30-7c3a-9d4e-5f6a7b8c9d0f' } });
