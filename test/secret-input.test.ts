import { describe, expect, it } from 'vitest';
import { EMPTY_SECRET_INPUT, editSecretInput, type SecretInput } from '../src/core/secret-input.js';

const feed = (...chunks: string[]): SecretInput => chunks.reduce(editSecretInput, EMPTY_SECRET_INPUT);

describe('editSecretInput', () => {
  it.each([
    ['plain line', ['secret\r'], { value: 'secret', status: 'done' }],
    ['newline ends too', ['pw\n'], { value: 'pw', status: 'done' }],
    ['one key at a time', ['a', 'b', 'c'], { value: 'abc', status: 'typing' }],
    ['backspace (DEL)', ['abx\x7fc\r'], { value: 'abc', status: 'done' }],
    ['backspace (BS) on empty', ['\b\bok\r'], { value: 'ok', status: 'done' }],
    ['backspace removes a whole code point', ['p😀\x7f\r'], { value: 'p', status: 'done' }],
    ['Ctrl-U clears the line', ['wrong\x15right\r'], { value: 'right', status: 'done' }],
    ['Ctrl-C cancels and forgets', ['abc', '\x03'], { value: '', status: 'canceled' }],
    ['Ctrl-D ends input', ['pw\x04'], { value: 'pw', status: 'done' }],
    ['arrow keys and Delete are ignored', ['a\x1b[Db\x1b[3~\x1bOAc\r'], { value: 'abc', status: 'done' }],
    ['other control characters are ignored', ['a\tb\x01c\r'], { value: 'abc', status: 'done' }],
    ['spaces and symbols are kept', ['p w#"$\r'], { value: 'p w#"$', status: 'done' }],
    ['a paste ends at Enter, the rest is dropped', ['pw\rmore\r'], { value: 'pw', status: 'done' }],
    ['input after the end changes nothing', ['pw\r', 'x'], { value: 'pw', status: 'done' }],
  ])('%s', (_name, chunks, expected) => {
    expect(feed(...chunks)).toEqual(expected);
  });
});
