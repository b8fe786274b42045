/** Options shared by the commands that read a storage volume. */
import { Command, Option } from 'commander';
import { UsageError } from '../errors.js';
import type { LinkMode } from '../core/plan.js';
import { parseShard, type Shard } from '../core/shard.js';

/** Adds --tags-file, --exclude, --shard and --verify-blobs. */
export function addSelectionOptions(command: Command): Command {
  return command
    .option('--tags-file <file>', 'only tags listed in FILE: repository:tag, repository@sha256:<hex>, repository (all its tags) or globs (proj/*:v1.*, library/**); # comments. A listed tag missing from the storage, or an empty selection, makes the run partial (exit 4)')
    .option('--exclude <glob>', 'leave out tags matching GLOB (same syntax as a tags-file entry); repeatable', collect, [])
    .option('--shard <K/N>', 'only the K-th of N parts of the repositories (a stable split by repository name): N runs, e.g. the pods of a Kubernetes Indexed Job, share the work without overlap')
    .option('--verify-blobs', 'also stream every config and layer through sha256 (reads every byte; sizes are always checked)', false);
}

/** Adds --metrics-file (and, for commands that write an output directory, --wait-lock). */
export function addRunFileOptions(command: Command, opts: { lock: boolean }): Command {
  command.option('--metrics-file <file>', 'write Prometheus text metrics of this run to FILE (atomically), for node_exporter\'s textfile collector');
  if (opts.lock) command.option('--wait-lock <duration>', 'when another run holds the output directory, wait up to DURATION (30s, 10m, 2h) instead of exiting 75');
  return command;
}

/** --shard and the selection flags, parsed. */
export function selectionOf(flags: SelectionFlags): { tagsFile: string | undefined; exclude: string[]; verifyBlobs: boolean; shard?: Shard } {
  return {
    tagsFile: flags.tagsFile,
    exclude: flags.exclude,
    verifyBlobs: flags.verifyBlobs,
    ...(flags.shard !== undefined ? { shard: parseShard(flags.shard) } : {}),
  };
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
  shard?: string;
}

/** --metrics-file and --wait-lock. */
export interface RunFileFlags {
  metricsFile?: string;
  waitLock?: string;
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

/** The prefix of the environment variable behind every option: `--dest-cert-dir` → REGISTRY_RESCUE_DEST_CERT_DIR. */
export const ENV_PREFIX = 'REGISTRY_RESCUE_';

/**
 * A sub-command whose every option can also come from the environment, so a crontab line stays short: the
 * command line wins over the environment, which wins over the default (commander's precedence for
 * `Option.env`, shown in --help as "(env: …)"). Commander reads the variable only for options that carry it
 * when they are added, hence addOption. It turns a flag without a value on when its variable merely exists,
 * so such a variable set to `false`, `0` or nothing is not attached: REGISTRY_RESCUE_DRY_RUN=false is no dry run.
 */
class EnvCommand extends Command {
  readonly #env: Readonly<Record<string, string | undefined>>;

  constructor(name: string, env: Readonly<Record<string, string | undefined>>) {
    super(name);
    this.#env = env;
  }

  override addOption(option: Option): this {
    if (option.long !== undefined && option.long !== '--help') {
      const variable = `${ENV_PREFIX}${option.long.replace(/^--(no-)?/, '').replaceAll('-', '_').toUpperCase()}`;
      const takesValue = option.required || option.optional;
      if (takesValue || !['', '0', 'false'].includes((this.#env[variable] ?? '').trim().toLowerCase())) option.env(variable);
    }
    return super.addOption(option);
  }
}

/** A sub-command whose options can come from REGISTRY_RESCUE_<OPTION> (see EnvCommand). */
export function newCommand(name: string, env: Readonly<Record<string, string | undefined>>): Command {
  return new EnvCommand(name, env).addHelpText(
    'after',
    `\nEvery option can also be set in the environment as ${ENV_PREFIX}<OPTION> (--dest-cert-dir: ${ENV_PREFIX}DEST_CERT_DIR);\nthe command line wins over the environment, which wins over the default.`,
  );
}
