/**
 * The CSV writer and reader: cells a spreadsheet would run as a formula are written with a
 * neutralising quote (OWASP CSV injection), and the importer's reading restores them exactly.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { csvLine, parseCsv, restoreNeutralised } from '../../src/core/csv.ts';

async function parseOne(text: string): Promise<string[]> {
  const records = [];
  const chunks = (async function* () {
    yield text;
  })();
  for await (const record of parseCsv(chunks)) records.push(record.fields);
  assert.equal(records.length, 1, `one record in ${JSON.stringify(text)}`);
  return records[0] ?? [];
}

describe('csvLine', () => {
  const formulas: [string, string, string][] = [
    ['=', '=HYPERLINK("http://evil.example","x")', `"'=HYPERLINK(""http://evil.example"",""x"")"`],
    ['+', '+1+1', `"'+1+1"`],
    ['-', "-2+3+cmd|' /C calc'!A0", `"'-2+3+cmd|' /C calc'!A0"`],
    ['@', "@SUM(1+1)*cmd|' /C calc'!A0", `"'@SUM(1+1)*cmd|' /C calc'!A0"`],
    ['tab', '\t=1+1', `"'\t=1+1"`],
    ['carriage return', '\r=1+1', `"'\r=1+1"`],
  ];
  for (const [prefix, cell, written] of formulas) {
    test(`a cell starting with ${prefix} gets a leading ' and is quoted`, () => {
      assert.equal(csvLine(['safe', cell]), `safe,${written}\r\n`);
    });
  }

  test('other cells are written as they are, quoted only where RFC 4180 needs it', () => {
    assert.equal(
      csvLine(['plain', 'a, b', 'say "hi"', 'x=1', '12.50', '']),
      'plain,"a, b","say ""hi""",x=1,12.50,\r\n',
    );
  });

  test('a cell that already starts with a quote before a trigger gets one more, so it reads back', () => {
    assert.equal(csvLine(["'=1"]), `"''=1"\r\n`);
    assert.equal(csvLine(["'plain"]), `'plain\r\n`, 'a quote before anything else is left alone');
  });
});

describe('restoreNeutralised', () => {
  test('every cell reads back exactly as it was written', async () => {
    const cells = [
      '=1+1',
      '+1',
      '-1',
      '@A1',
      '\t=x',
      '\r\n=x',
      "'=1",
      "''=1",
      "'",
      "'plain",
      "it's",
      'plain',
      '',
      '"=quoted"',
      'a,=b',
    ];
    const fields = await parseOne(csvLine(cells));
    assert.deepEqual(fields.map(restoreNeutralised), cells);
  });

  test('only a quote before = + - @ tab or CR is taken away', () => {
    assert.equal(restoreNeutralised("'=1"), '=1');
    assert.equal(restoreNeutralised("''=1"), "'=1");
    assert.equal(restoreNeutralised("'abc"), "'abc");
    assert.equal(restoreNeutralised("'"), "'");
    assert.equal(restoreNeutralised('=1'), '=1');
  });
});
