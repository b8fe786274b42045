/** Pretty-printed JSON documents written piece by piece, so 500k-image reports never become one string. */

/** Bump when a JSON document's shape changes incompatibly; every document carries it as `version`. */
export const REPORT_VERSION = 1;

export interface JsonDocumentWriter {
  /** Appends one element to the array. */
  item(value: unknown): void;
  /** Closes the array, writes `tail`'s fields and ends the document. */
  end(tail: Record<string, unknown>): void;
}

const fieldsOf = (obj: Record<string, unknown>) =>
  Object.entries(obj)
    .filter(([, v]) => v !== undefined)
    .map(([k, v]) => `  ${JSON.stringify(k)}: ${JSON.stringify(v, null, 2).replaceAll('\n', '\n  ')}`);

/** Starts `{ ...head, [key]: [` (two-space indent, one element a line); items and the tail follow as they come. */
export function openJsonDocument(write: (text: string) => void, head: Record<string, unknown>, key: string): JsonDocumentWriter {
  write(`{\n${fieldsOf(head).map((f) => `${f},\n`).join('')}  ${JSON.stringify(key)}: [`);
  let first = true;
  return {
    item(value) {
      // One line per element: a 500k-image report stays greppable, and no indented copy of each is built.
      write(`${first ? '\n' : ',\n'}    ${JSON.stringify(value)}`);
      first = false;
    },
    end(tail) {
      write(`${first ? '' : '\n  '}]${fieldsOf(tail).map((f) => `,\n${f}`).join('')}\n}\n`);
    },
  };
}
