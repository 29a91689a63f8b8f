// CSV and TSV: rows of fields (quoted fields with commas, quotes and line breaks
// included), and which columns are numbers (for a plot).

/** The rows of `text`; `delimiter` is "," or "\t". A last empty line is no row. */
export function parseCsv(text, delimiter = ",") {
  const rows = [];
  let row = [];
  let field = "";
  let quoted = false;
  for (let i = 0; i < text.length; i += 1) {
    const c = text[i];
    if (quoted) {
      if (c === '"' && text[i + 1] === '"') { field += '"'; i += 1; }
      else if (c === '"') quoted = false;
      else field += c;
    } else if (c === '"' && field === "") quoted = true;
    else if (c === delimiter) { row.push(field); field = ""; }
    else if (c === "\n" || c === "\r") {
      if (c === "\r" && text[i + 1] === "\n") i += 1;
      row.push(field);
      rows.push(row);
      row = [];
      field = "";
    } else field += c;
  }
  if (field !== "" || row.length) { row.push(field); rows.push(row); }
  return rows;
}

const NUMBER = /^\s*[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?\s*$/;

/**
 * The numeric columns of rows whose first row is a header: [{name, values}], each
 * value a number or null (an empty cell). A column with any other text is left out.
 */
export function numericColumns(rows) {
  if (rows.length < 2) return [];
  const [header, ...body] = rows;
  const columns = [];
  header.forEach((name, index) => {
    const values = [];
    for (const row of body) {
      const cell = row[index] ?? "";
      if (cell.trim() === "") values.push(null);
      else if (NUMBER.test(cell)) values.push(Number(cell));
      else return;
    }
    if (values.length === body.length && values.some((v) => v !== null)) {
      columns.push({ name: name.trim() || `column ${index + 1}`, values });
    }
  });
  return columns;
}
