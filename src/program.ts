/** The commander program: one sub-command per module in src/commands/. */
import { Command } from 'commander';
import { exportCommand } from './commands/export.js';
import { listCommand } from './commands/list.js';
import { syncCommand } from './commands/sync.js';
import { tagsCommand } from './commands/tags.js';
import { verifyCommand } from './commands/verify.js';
import type { Io } from './io/io.js';

/** Builds the program; errors surface as rejections of parseAsync (exitOverride), mapped in cli.ts. */
export function buildProgram(io: Io, version: string): Command {
  const program = new Command('registry-rescue')
    .description(
      'Rescue images from a broken Harbor or Docker Distribution registry: read its storage volume offline,\n' +
        'export every tag as a skopeo dir: layout made of hard links, and push them into a new registry.',
    )
    .version(version)
    .showHelpAfterError('(run with --help for usage)')
    .configureOutput({ writeOut: (s) => io.stdout(s), writeErr: (s) => io.stderr(s) })
    .exitOverride();
  for (const command of commands(io)) {
    program.addCommand(command.exitOverride().configureOutput({ writeOut: (s) => io.stdout(s), writeErr: (s) => io.stderr(s) }));
  }
  return program;
}

function commands(io: Io): Command[] {
  return [listCommand(io), exportCommand(io), syncCommand(io), verifyCommand(io), tagsCommand(io)];
}
