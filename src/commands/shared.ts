/** Options shared by the commands that read a storage volume. */
import { Command, InvalidArgumentError, Option } from 'commander';
import { UsageError } from '../errors.js';
import type { LinkMode } from '../core/plan.js';
import { parseShard, type Shard } from '../core/shard.js';
import type { BucketSettings } from '../storage/storage-source.js';

/** Adds --tags-file, --exclude, --shard and --verify-blobs, and the --s3-* options of a bucket storage. */
export function addSelectionOptions(command: Command): Command {
  return addBucketOptions(command)
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

/** --shard and the selection flags, parsed (and the --s3-* settings). */
export function selectionOf(flags: SelectionFlags): { tagsFile: string | undefined; exclude: string[]; verifyBlobs: boolean; shard?: Shard; bucket: BucketSettings } {
  return {
    tagsFile: flags.tagsFile,
    exclude: flags.exclude,
    verifyBlobs: flags.verifyBlobs,
    ...(flags.shard !== undefined ? { shard: parseShard(flags.shard) } : {}),
    bucket: bucketOf(flags),
  };
}

/** What `<storage>` may be, for each command's help. */
export const STORAGE_ARGUMENT = 'the registry storage: a directory (/data/registry, …/docker/registry or …/docker/registry/v2) or a bucket, s3://BUCKET[/ROOTDIRECTORY]';

/**
 * The bucket options. Credentials are deliberately not among them: they come from the environment or the
 * shared AWS files (the SDK's default chain), never from the command line, where `ps` would show them.
 */
function addBucketOptions(command: Command): Command {
  return command
    .option('--s3-endpoint <url>', 'for an s3:// storage: the S3-compatible endpoint (MinIO, Ceph RGW…), e.g. https://minio.example:9000; default AWS_ENDPOINT_URL, else AWS S3')
    .option('--s3-region <region>', 'for an s3:// storage: the region to sign for; default AWS_REGION or the profile\'s, else us-east-1')
    .addOption(new Option('--s3-path-style [bool]', 'for an s3:// storage: path-style addressing (endpoint/bucket/key), as MinIO and Ceph RGW usually need').argParser(parseBool))
    .option('--s3-ca-cert <file>', 'for an s3:// storage: PEM CA certificate of the endpoint; default AWS_CA_BUNDLE, else the system\'s');
}

/** The --s3-* flags as BucketSettings. */
export function bucketOf(flags: BucketFlags): BucketSettings {
  return {
    ...(flags.s3Endpoint !== undefined ? { endpoint: parseEndpoint(flags.s3Endpoint) } : {}),
    ...(flags.s3Region !== undefined ? { region: flags.s3Region } : {}),
    ...(flags.s3PathStyle !== undefined ? { pathStyle: flags.s3PathStyle === true } : {}),
    ...(flags.s3CaCert !== undefined ? { caCert: flags.s3CaCert } : {}),
  };
}

/**
 * --s3-endpoint must be an http:// or https:// URL: `minio:9000` would otherwise reach the SDK, which answers
 * `ERR_INVALID_URL: Invalid URL` (or takes `minio:` for a scheme) as if the bucket had failed.
 */
function parseEndpoint(value: string): string {
  let url: URL | undefined;
  try {
    url = new URL(value);
  } catch {
    url = undefined;
  }
  if (url === undefined || (url.protocol !== 'http:' && url.protocol !== 'https:') || url.hostname === '') {
    throw new UsageError(`--s3-endpoint ${JSON.stringify(value)}: expected an http:// or https:// URL, e.g. https://minio.example.com:9000 (http:// when the registry had secure: false)`);
  }
  return value;
}

export interface BucketFlags {
  s3Endpoint?: string;
  s3Region?: string;
  s3PathStyle?: boolean | string;
  s3CaCert?: string;
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

/** Parses a positive integer option (`min` to `max`) or throws a UsageError naming it. */
export function positiveInt(name: string, value: string | number | undefined, fallback: number, min = 1, max = Number.MAX_SAFE_INTEGER): number {
  if (value === undefined) return fallback;
  const n = typeof value === 'number' ? value : Number(value);
  if (!Number.isInteger(n) || n < min || n > max) {
    const range = max === Number.MAX_SAFE_INTEGER ? `≥ ${min}` : `from ${min} to ${max}`;
    throw new UsageError(`${name} must be an integer ${range}, not ${JSON.stringify(value)}`);
  }
  return n;
}

export interface SelectionFlags extends BucketFlags {
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
  // Commander's own error names the option, and the variable when the value came from REGISTRY_RESCUE_*: an
  // EnvironmentFile holds a dozen settings, and "expected true or false" alone does not say which one is wrong.
  throw new InvalidArgumentError(`expected true or false, not ${JSON.stringify(value)}`);
}

/** The prefix of the environment variable behind every option: `--dest-cert-dir` → REGISTRY_RESCUE_DEST_CERT_DIR. */
export const ENV_PREFIX = 'REGISTRY_RESCUE_';

/** The environment variable behind an option: `--dest-cert-dir` (or `--no-…`) → REGISTRY_RESCUE_DEST_CERT_DIR. */
export function envVariableOf(long: string): string {
  return `${ENV_PREFIX}${long.replace(/^--(no-)?/, '').replaceAll('-', '_').toUpperCase()}`;
}

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
      const variable = envVariableOf(option.long);
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
