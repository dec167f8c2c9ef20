/**
 * Splits one line of a CSV hash feed into fields (RFC 4180 quoting: a field in double
 * quotes may hold commas, and "" inside it is one quote). MalwareBazaar's dumps put a
 * space after each separator (`"a", "b"`), so blanks around a quoted field are
 * dropped. One line only: no feed this reads puts a line break inside a field, and
 * reading line by line is what keeps a million-row dump out of memory.
 */

/** The fields, or a reason the line is not CSV. */
export type CsvLine = { fields: string[] } | { error: string };

export function splitCsvLine(line: string): CsvLine {
  const fields: string[] = [];
  let i = 0;
  for (;;) {
    while (line[i] === ' ' || line[i] === '\t') i++;
    if (line[i] === '"') {
      let value = '';
      i++;
      for (;;) {
        const close = line.indexOf('"', i);
        if (close === -1) return { error: 'a quoted field is not closed' };
        value += line.slice(i, close);
        i = close + 1;
        if (line[i] !== '"') break;
        value += '"';
        i++;
      }
      while (line[i] === ' ' || line[i] === '\t') i++;
      fields.push(value);
      if (i === line.length) return { fields };
      if (line[i] !== ',') return { error: 'text after a closing quote' };
      i++;
    } else {
      const comma = line.indexOf(',', i);
      const end = comma === -1 ? line.length : comma;
      const value = line.slice(i, end).trim();
      if (value.includes('"')) return { error: 'a quote inside an unquoted field' };
      fields.push(value);
      if (comma === -1) return { fields };
      i = comma + 1;
    }
  }
}
