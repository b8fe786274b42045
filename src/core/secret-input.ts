/**
 * Line editing for a password typed with echo off (raw mode: the terminal no longer edits the line for us).
 * Pure: cli.ts feeds it what the terminal sends and acts on the status.
 */

export interface SecretInput {
  readonly value: string;
  /** `done`: Enter (or Ctrl-D, end of input); `canceled`: Ctrl-C. */
  readonly status: 'typing' | 'done' | 'canceled';
}

export const EMPTY_SECRET_INPUT: SecretInput = { value: '', status: 'typing' };

const ENTER = new Set(['\r', '\n']);
const CTRL_C = '\x03';
const CTRL_D = '\x04';
const CTRL_U = '\x15';
const BACKSPACE = new Set(['\x7f', '\b']);
const ESC = '\x1b';
/** A CSI or SS3 escape sequence (arrow keys, Delete, F-keys): nothing a password holds. */
const ESCAPE_SEQUENCE = /^\x1b(?:\[[0-?]*[ -/]*[@-~]|O.|.)?/u;

/** Applies one chunk of terminal input; whatever follows Enter or Ctrl-C in the chunk is dropped. */
export function editSecretInput(state: SecretInput, chunk: string): SecretInput {
  if (state.status !== 'typing') return state;
  let value = state.value;
  let rest = chunk;
  while (rest.length > 0) {
    if (rest.startsWith(ESC)) {
      rest = rest.slice((ESCAPE_SEQUENCE.exec(rest)?.[0] ?? ESC).length);
      continue;
    }
    const char = String.fromCodePoint(rest.codePointAt(0) as number);
    rest = rest.slice(char.length);
    if (ENTER.has(char) || char === CTRL_D) return { value, status: 'done' };
    if (char === CTRL_C) return { value: '', status: 'canceled' };
    if (BACKSPACE.has(char)) value = [...value].slice(0, -1).join('');
    else if (char === CTRL_U) value = '';
    else if (char >= ' ') value += char; // other control characters are not part of a password
  }
  return { value, status: 'typing' };
}
