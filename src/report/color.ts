/** Whether people's output on stderr gets colour (pure; cli.ts feeds it the facts from `process`). */

export interface ColorFacts {
  /** stderr is a terminal: off one (cron mail, journald, a file) there is never colour. */
  isTTY: boolean;
  /** False with `--no-color`. */
  flag: boolean;
  env: Readonly<Record<string, string | undefined>>;
  /**
   * What the terminal says, `process.stderr.hasColors()`: Node's answer from TERM, NO_COLOR and FORCE_COLOR.
   * Undefined when unknown (a test, a stream without the method).
   */
  terminalColors?: boolean;
}

/**
 * The colour decision: `--no-color` wins; then FORCE_COLOR (`0`/`false` off, any other value on, as Node and
 * chalk read it); then NO_COLOR (https://no-color.org: set and not empty) and TERM=dumb turn it off; then
 * the terminal's own answer. Off a terminal, never: FORCE_COLOR does not put escape codes into cron mail.
 * chalk alone would not do: it ignores NO_COLOR.
 */
export function decideColor(f: ColorFacts): boolean {
  if (!f.flag || !f.isTTY) return false;
  const force = f.env.FORCE_COLOR;
  if (force !== undefined) return force !== '0' && force !== 'false';
  if ((f.env.NO_COLOR ?? '') !== '' || f.env.TERM === 'dumb') return false;
  return f.terminalColors ?? true;
}
