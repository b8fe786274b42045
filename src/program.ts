/** The commander program: one sub-command per module in src/commands/. */
import { Command } from 'commander';
import { exportCommand } from './commands/export.js';
import { listCommand } from './commands/list.js';
import { recordUsageRefusals } from './commands/outputs.js';
import { syncCommand } from './commands/sync.js';
import { tagsCommand } from './commands/tags.js';
import { verifyCommand } from './commands/verify.js';
import type { Io } from './io.js';

/** Builds the program; errors surface as rejections of parseAsync (exitOverride), mapped in cli.ts. */
export function buildProgram(io: Io, version: string): Command {
  const program = new Command('registry-rescue')
    .description(
      'Rescue images from a broken Harbor or Docker Distribution registry: read its storage volume offline,\n' +
        'export every tag as a skopeo dir: layout made of hard links, and push them into a new registry.',
    )
    .version(version)
    // On the root, so every command takes it (before or after the command's name); cli.ts reads it.
    .option('--no-color', 'no colour (also NO_COLOR=1); off a terminal there is none anyway')
    .configureOutput(output(io))
    .exitOverride()
    .addHelpText(
      'after',
      `
The flow: storage -> tags -> manifests -> plan -> dir: layouts -> skopeo sync -> report

Examples:
  registry-rescue list /data/registry                                  # what is on the volume, what is broken
  registry-rescue tags --from https://harbor.example.com --output rescue.tags   # while Harbor's API still answers
  registry-rescue export /data/registry --out /data/rescue --tags-file rescue.tags --dry-run
  registry-rescue sync /data/registry --to harbor-new.example.com --tags-file rescue.tags --create-projects
  registry-rescue verify /data/registry --to harbor-new.example.com --tags-file rescue.tags

Exit codes: 0 all selected tags done, 4 some broken or failed, 2 usage, 3 preflight (storage, target, skopeo).`,
    );
  for (const command of commands(io)) {
    // Commander's refusals become rejections of parseAsync (cli.ts maps them), after the metrics file says so.
    program.addCommand(recordUsageRefusals(io, command).configureOutput(output(io)));
  }
  return program;
}

/**
 * Help and version to stdout. Commander's own refusal lines (`error: …`, its `(Did you mean …?)`) are not written:
 * cli.ts ends the run with one line that carries them, so a crontab typo reads once in the log, not twice.
 */
function output(io: Io) {
  return { writeOut: (s: string) => io.stdout(s), writeErr: (s: string) => io.stderr(s), outputError: () => {} };
}

function commands(io: Io): Command[] {
  return [listCommand(io), exportCommand(io), syncCommand(io), verifyCommand(io), tagsCommand(io)];
}

/**
 * A commander refusal as one clause for the run's last line: `unknown option '--tag-file' (did you mean
 * --tags-file?)`. Its message is `error: …` with, on the lines after it, a suggestion in parentheses.
 */
export function usageReason(message: string): string {
  const [first = '', ...more] = message.split('\n').map((line) => line.trim()).filter((line) => line !== '');
  const reason = first.replace(/^error: /, '');
  const hints = more.map((line) => line.replace(/^\((.*)\)$/, '$1').replace(/^Did you/, 'did you'));
  return hints.length > 0 ? `${reason} (${hints.join('; ')})` : reason;
}
