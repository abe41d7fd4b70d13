export type Alignment = 'left' | 'right';

/**
 * Plain columns under a header, each as wide as its widest cell: what `ls -l` and `psql` print, so
 * the output stays readable and easy to cut or grep. A table library (cli-table3) would draw boxes
 * and bring its own width logic for what is one line of padding here.
 */
export function formatTable(header: string[], rows: string[][], align: Alignment[] = []): string[] {
  const all = [header, ...rows];
  const widths = header.map((_, column) => Math.max(...all.map((row) => (row[column] ?? '').length)));
  return all.map((row) => row.map((cell, column) => (align[column] === 'right' ? cell.padStart(widths[column]!) : cell.padEnd(widths[column]!)))
    .join('  ').trimEnd());
}
