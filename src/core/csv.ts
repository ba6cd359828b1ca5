/** A CSV file that does not follow RFC 4180; `line` is 1-based. */
export class CsvSyntaxError extends Error {
  readonly line: number;

  constructor(line: number, message: string) {
    super(`line ${line}: ${message}`);
    this.name = 'CsvSyntaxError';
    this.line = line;
  }
}

export interface CsvRecord {
  /** The line the record starts on (a quoted field may span several). */
  line: number;
  fields: string[];
}

/**
 * Parses RFC 4180 CSV from a stream of bytes, one record at a time: quoted fields may hold
 * commas, quotes (doubled) and line breaks; lines end in LF or CRLF. Memory stays at one
 * record whatever the file's size.
 */
export async function* parseCsv(
  chunks: AsyncIterable<Uint8Array | string>,
): AsyncIterable<CsvRecord> {
  const decoder = new TextDecoder('utf-8', { fatal: true });
  let field = '';
  let fields: string[] = [];
  let quoted = false;
  let afterQuote = false;
  let line = 1;
  let recordLine = 1;
  let sawAnything = false;
  let previous = '';
  const decode = (chunk: Uint8Array | string, stream: boolean) => {
    if (typeof chunk === 'string') return chunk;
    try {
      return decoder.decode(chunk, { stream });
    } catch {
      // `line` is where this chunk starts: add the line breaks before the first bad byte.
      const lenient = new TextDecoder().decode(chunk);
      const valid = lenient.slice(0, Math.max(0, lenient.indexOf('\uFFFD')));
      const breaks = valid.split('\n').length - 1;
      throw new CsvSyntaxError(line + breaks, 'the file is not valid UTF-8');
    }
  };
  const endRecord = (): CsvRecord => {
    fields.push(field);
    const record = { line: recordLine, fields };
    field = '';
    fields = [];
    afterQuote = false;
    sawAnything = false;
    return record;
  };
  for await (const chunk of chunks) {
    for (const char of decode(chunk, true)) {
      if (quoted) {
        if (char === '"') {
          quoted = false;
          afterQuote = true;
        } else {
          if (char === '\n') line += 1;
          field += char;
        }
      } else if (char === '"') {
        if (afterQuote) {
          field += '"';
          quoted = true;
          afterQuote = false;
        } else if (field.length === 0) {
          quoted = true;
          sawAnything = true;
        } else {
          throw new CsvSyntaxError(line, 'a quote inside an unquoted field');
        }
      } else if (char === ',') {
        fields.push(field);
        field = '';
        afterQuote = false;
        sawAnything = true;
      } else if (char === '\n') {
        if (sawAnything || field.length > 0) yield endRecord();
        else field = '';
        line += 1;
        recordLine = line;
      } else if (char === '\r') {
        // Part of CRLF; a lone CR is dropped too.
      } else {
        if (afterQuote) throw new CsvSyntaxError(line, 'text after a closing quote');
        field += char;
        sawAnything = true;
      }
      previous = char;
    }
  }
  decode(new Uint8Array(), false);
  if (quoted) throw new CsvSyntaxError(recordLine, 'a quoted field is never closed');
  if (sawAnything || field.length > 0 || previous === ',') yield endRecord();
}

/**
 * A cell a spreadsheet would run as a formula: it starts with `=`, `+`, `-`, `@`, tab or CR
 * (OWASP, CSV injection). Quotes before the trigger count too, so that a cell really starting
 * with `'=` gets a quote of its own and `restoreNeutralised` can tell the two apart.
 */
const FORMULA_START = /^'*[=+\-@\t\r]/;
/** A neutralising quote as `csvLine` writes it: a `'` before (quotes and) a trigger. */
const NEUTRALISED_START = /^'+[=+\-@\t\r]/;

/**
 * One CSV line (with its line break) for `fields`, quoting only where needed. A cell that
 * would start a formula is written `'`-prefixed and quoted, as OWASP advises: spreadsheets
 * show it as text. The price: such a cell reads back with the quote, unless the reader
 * applies `restoreNeutralised` (as the importer does).
 */
export function csvLine(fields: readonly string[]): string {
  return `${fields.map(csvCell).join(',')}\r\n`;
}

function csvCell(value: string): string {
  const formula = FORMULA_START.test(value);
  const cell = formula ? `'${value}` : value;
  return formula || /[",\r\n]/.test(cell) ? `"${cell.replaceAll('"', '""')}"` : cell;
}

/**
 * A cell as it was before `csvLine` neutralised it: the one leading `'` before a formula
 * trigger is taken away, any other cell is left as it is. Exact for every cell `csvLine`
 * wrote; in a file from elsewhere, a `'=` is taken for our prefix (decision 008).
 */
export function restoreNeutralised(field: string): string {
  return NEUTRALISED_START.test(field) ? field.slice(1) : field;
}
