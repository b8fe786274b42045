/**
 * Text for a terminal from names and bytes a damaged or hostile storage chose: directory names, link files and
 * manifests can hold ESC sequences (retitle, clear or repaint the operator's terminal), NULs and other control
 * bytes (`grep` then calls the whole output "binary" and prints none of its lines), C1 controls and bidi
 * overrides (text that reads other than it is). Each is shown as a `\uXXXX` escape; everything else is kept.
 * JSON output needs none of this: JSON.stringify escapes what JSON must.
 */
// C0 controls (newline and tab too: one message is one line), DEL, C1 controls, bidi marks, embeddings, overrides
// and isolates, and the line/paragraph separators.
// eslint-disable-next-line no-control-regex
const UNPRINTABLE = /[\u0000-\u001f\u007f-\u009f\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g;

export function printable(text: string): string {
  return text.replace(UNPRINTABLE, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}
