/** `registry-rescue sync <storage> --to host[:port][/prefix]`: export and push every tag, digests preserved. */
import path from 'node:path';
import { Command, Option } from 'commander';
import { parseTarget } from '../core/target.js';
import { EXIT, PreflightError, UsageError } from '../errors.js';
import { ENV_USERNAME } from '../io/credentials.js';
import type { Io } from '../io/io.js';
import type { TargetAccessOptions } from '../io/target-registry.js';
import { checkWritableDir, writeFileAtomicWith } from '../io/write-atomic.js';
import { createProgress } from '../report/progress.js';
import { renderSyncLine, renderSyncSummary, writeSyncReport } from '../report/render-sync.js';
import { DEFAULT_RETRIES, DEFAULT_SYNC_CONCURRENCY, exitCodeForSync, runSync } from '../run-sync.js';
import { addLinkOption, addSelectionOptions, parseBool, positiveInt, type LinkFlags, type SelectionFlags } from './shared.js';

interface SyncFlags extends SelectionFlags, LinkFlags, TargetFlags {
  out?: string;
  concurrency?: string;
  retries?: string;
  dryRun?: boolean;
  report?: string;
  createProjects?: boolean;
  prune?: boolean;
  skopeo: string;
  json?: boolean;
  verbose?: boolean;
  quiet?: boolean;
}

/** The target options of sync and verify, as commander parses them. */
export interface TargetFlags {
  to: string;
  destAuthfile?: string;
  destCertDir?: string;
  destTlsVerify: boolean;
  destPasswordStdin?: boolean;
}

/**
 * Turns the target flags into TargetAccessOptions: asks for the password when --dest-password-stdin is given at a
 * terminal (echo off), reads standard input to the end otherwise, and prints once which credentials were found.
 */
export async function targetAccess(flags: TargetFlags, io: Io): Promise<TargetAccessOptions> {
  if (flags.destPasswordStdin && flags.destAuthfile) throw new UsageError('--dest-password-stdin and --dest-authfile exclude each other');
  let passwordFromStdin: string | undefined;
  if (flags.destPasswordStdin && io.stdinIsTTY) {
    const { host } = parseTarget(flags.to);
    const user = io.env[ENV_USERNAME];
    // Before the prompt: typing a password that cannot be used is worse than no prompt.
    if (!user) throw new UsageError(`--dest-password-stdin needs ${ENV_USERNAME}: set it to the user name for ${host}`);
    passwordFromStdin = await io.readSecret(`Password for ${user}@${host}: `);
  } else if (flags.destPasswordStdin) {
    passwordFromStdin = await io.readStdin();
  }
  return {
    destTlsVerify: flags.destTlsVerify,
    ...(flags.destAuthfile !== undefined ? { destAuthFile: flags.destAuthfile } : {}),
    ...(flags.destCertDir !== undefined ? { destCertDir: flags.destCertDir } : {}),
    ...(passwordFromStdin !== undefined ? { passwordFromStdin } : {}),
    // Which file (or variables) a DR run used is the first thing to check when the target says "unauthorized".
    onCredentials: (host, credentials) => io.stderr(`using credentials for ${host} from ${credentials.source}\n`),
  };
}

/** Adds the target registry options shared by sync and verify. */
export function addTargetOptions(command: Command): Command {
  command
    .requiredOption('--to <target>', 'target registry host[:port], optionally with a repository prefix: harbor.example.com/rescued')
    .option(
      '--dest-authfile <file>',
      'auth file (containers auth.json / docker config.json) for the target; default $REGISTRY_AUTH_FILE, else ' +
        'REGISTRY_RESCUE_USERNAME/REGISTRY_RESCUE_PASSWORD, else skopeo\'s files: $XDG_RUNTIME_DIR/containers/auth.json, ' +
        '~/.config/containers/auth.json, ~/.docker/config.json, ~/.dockercfg',
    )
    .option('--dest-password-stdin', 'read the password for REGISTRY_RESCUE_USERNAME from standard input (asked for, without echo, at a terminal)')
    .option('--dest-cert-dir <dir>', 'directory with the CA certificate (ca.crt) of the target')
    .option('--dest-tls-verify [bool]', 'verify the target\'s TLS certificate (--dest-tls-verify=false to skip; plain http is then allowed)', parseBool, true);
  // skopeo's credential flags put secrets in argv, visible to every user (ps) and in cron mail: refused, naming
  // what to use instead and never the value. An optional value, so every spelling gets this answer rather than
  // commander's "argument missing"; hidden from --help.
  for (const flag of ['--dest-creds', '--dest-username', '--dest-password', '--creds']) {
    command.addOption(new Option(`${flag} [value]`).hideHelp());
    command.on(`option:${flag.slice(2)}`, () => {
      throw new UsageError(
        `${flag} is not supported: credentials never go on the command line, where ps, shell history and cron mail ` +
          'show them. Instead: skopeo login --authfile FILE HOST, then --dest-authfile FILE (or REGISTRY_AUTH_FILE=FILE); ' +
          `or ${ENV_USERNAME} with REGISTRY_RESCUE_PASSWORD; or ${ENV_USERNAME} with --dest-password-stdin`,
      );
    });
  }
  return command;
}

/** Builds the `sync` command. */
export function syncCommand(io: Io): Command {
  const command = new Command('sync')
    .description('export every tag and push it into a target registry with skopeo sync: concurrent, digest-preserving, incremental, verified')
    .argument('<storage>', 'the registry volume: /data/registry, …/docker/registry or …/docker/registry/v2')
    .option('--out <dir>', 'where layouts are exported (default: <storage>/registry-rescue-export, beside docker/)')
    .option('--concurrency <n>', `skopeo processes at once, never two into one repository (default ${DEFAULT_SYNC_CONCURRENCY})`)
    .option('--retries <n>', `retries of a transient failure (connection, 5xx, expired token) (default ${DEFAULT_RETRIES})`)
    .option('--dry-run', 'show every target reference and skopeo command line, and what would be skipped; touch nothing, contact nothing')
    .option('--report <file>', 'write the per-image result as JSON to FILE (atomically)')
    .option('--prune', 'remove exported layouts whose tag is gone from the storage (as export --prune)')
    .option('--create-projects', 'create missing Harbor projects (private) before their first push')
    .option('--skopeo <path>', 'the skopeo binary', 'skopeo')
    .option('--json', 'print the report JSON on stdout instead of text')
    .option('-v, --verbose', 'also list up-to-date images')
    .option('-q, --quiet', 'no progress on stderr');
  addLinkOption(addSelectionOptions(addTargetOptions(command))).addHelpText(
    'after',
    `
Credentials never go on the command line: use --dest-authfile, REGISTRY_AUTH_FILE, or
REGISTRY_RESCUE_USERNAME with REGISTRY_RESCUE_PASSWORD (or --dest-password-stdin).

Examples:
  registry-rescue sync /data/registry --to harbor-new.example.com --dest-authfile /root/auth.json --dry-run
  registry-rescue sync /data/registry --to harbor-new.example.com --create-projects --report /var/log/rescue.json
  REGISTRY_RESCUE_USERNAME=admin registry-rescue sync /data/registry --to 10.0.0.5:443/rescued \\
      --dest-cert-dir /etc/harbor-ca --dest-password-stdin < /root/harbor-password`,
  );
  return command.action(async (storage: string, flags: SyncFlags) => {
    const access = await targetAccess(flags, io);
    // Checked before any push: an hour of pushing must not end without its report.
    if (flags.report) await checkWritableDir(path.dirname(path.resolve(io.cwd, flags.report)), '--report');
    const progress = createProgress(io.stderr, { isTTY: io.isTTY, quiet: flags.quiet === true });
    const verbose = flags.verbose === true || flags.dryRun === true;
    const startedAt = new Date().toISOString();
    progress.event({ kind: 'run:start', command: 'sync', storage, ...(flags.out ? { out: flags.out } : {}), dryRun: flags.dryRun === true });
    const run = await runSync(
      {
        storage,
        to: flags.to,
        ...(flags.out !== undefined ? { out: flags.out } : {}),
        tagsFile: flags.tagsFile,
        exclude: flags.exclude,
        dryRun: flags.dryRun === true,
        prune: flags.prune === true,
        link: flags.link ?? 'hard',
        verifyBlobs: flags.verifyBlobs,
        concurrency: positiveInt('--concurrency', flags.concurrency, DEFAULT_SYNC_CONCURRENCY),
        retries: positiveInt('--retries', flags.retries, DEFAULT_RETRIES, 0),
        createProjects: flags.createProjects === true,
        skopeo: flags.skopeo,
        ...access,
      },
      {
        cwd: io.cwd,
        onExit: (cleanup) => io.onExit(cleanup),
        env: io.env,
        signal: io.signal,
        emit: (e) => {
          progress.event(e);
          if (e.kind !== 'image:synced' || flags.json) return;
          const line = renderSyncLine(e.result, { verbose });
          if (line) {
            progress.close();
            io.stdout(line);
          }
        },
      },
    );
    progress.event({ kind: 'run:done', ms: run.summary.ms });
    progress.close();
    const doc = {
      command: 'sync', storage: run.storage, target: flags.to, out: run.out, dryRun: flags.dryRun === true,
      startedAt, finishedAt: new Date().toISOString(), results: run.results, summary: run.summary, selection: run.exportSummary,
    };
    if (flags.json) writeSyncReport(io.stdout, doc);
    else io.stdout(renderSyncSummary(run.results, run.summary, { dryRun: flags.dryRun === true, target: flags.to, selection: run.exportSummary }));
    io.setExitCode(run.exportSummary.unreadable.length > 0 ? EXIT.partial : exitCodeForSync(run.summary));
    // After the summary, so a full disk at the very end still leaves the person the results.
    if (flags.report) {
      const file = path.resolve(io.cwd, flags.report);
      try {
        writeFileAtomicWith(file, (write) => writeSyncReport(write, doc));
      } catch (error) {
        throw new PreflightError(`cannot write the report ${file}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
      }
    }
  });
}
