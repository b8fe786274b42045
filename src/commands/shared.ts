/** Options shared by the commands that read a storage volume. */
import { Option, type Command } from 'commander';
import { UsageError } from '../errors.js';
import type { LinkMode } from '../core/plan.js';

/** Adds --tags-file, --exclude and --verify-blobs. */
export function addSelectionOptions(command: Command): Command {
  return command
    .option('--tags-file <file>', 'only tags listed in FILE: repository:tag, repository (all its tags) or globs (proj/*:v1.*, library/**); # comments')
    .option('--exclude <glob>', 'leave out tags matching GLOB (same syntax as a tags-file entry); repeatable', collect, [])
    .option('--verify-blobs', 'also stream every config and layer through sha256 (reads every byte; sizes are always checked)', false);
}

/** Adds --link. */
export function addLinkOption(command: Command): Command {
  return command.addOption(
    new Option('--link <mode>', 'how layout files point at blobs: hard (same filesystem, no copy), symlink (read-only or other filesystem, no copy), copy (reflink where supported)')
      .choices(['hard', 'symlink', 'copy'])
      .default('hard'),
  );
}

/** Commander's repeatable-option reducer. */
export function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}

/** Parses a positive integer option or throws a UsageError naming it. */
export function positiveInt(name: string, value: string | number | undefined, fallback: number, min = 1): number {
  if (value === undefined) return fallback;
  const n = typeof value === 'number' ? value : Number(value);
  if (!Number.isInteger(n) || n < min) throw new UsageError(`${name} must be an integer ≥ ${min}, not ${JSON.stringify(value)}`);
  return n;
}

export interface SelectionFlags {
  tagsFile?: string;
  exclude: string[];
  verifyBlobs: boolean;
}

/** --link, for the commands that write layouts. */
export interface LinkFlags {
  link?: LinkMode;
}

/** Parses `--flag=false` / `--flag=true` (a bare `--flag` means true), as skopeo's boolean flags do. */
export function parseBool(value: string | undefined): boolean {
  if (value === undefined || value === 'true' || value === '1') return true;
  if (value === 'false' || value === '0') return false;
  throw new UsageError(`expected true or false, not ${JSON.stringify(value)}`);
}
