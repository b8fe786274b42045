/** `registry-rescue sync <storage> --to host[:port][/prefix]`: export and push every tag, digests preserved. */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { Command, Option } from 'commander';
import { parseDuration } from '../core/duration.js';
import { parseProjectNaming, parseTarget, type PushTarget } from '../core/target.js';
import { UsageError } from '../errors.js';
import { ENV_USERNAME } from '../registry/credentials.js';
import type { Io } from '../io.js';
import type { TargetAccessOptions } from '../registry/target-registry.js';
import { createProgress } from '../report/progress.js';
import { createAttention, renderSyncLine, renderSyncSummary } from '../report/render-sync.js';
import { selectionJson } from '../report/render-export.js';
import { DEFAULT_BREAKER, DEFAULT_RETRIES, DEFAULT_SYNC_CONCURRENCY, MAX_SYNC_CONCURRENCY } from '../core/sync-plan.js';
import { checkMetricsPath, checkReportPath, finishRun, openDocuments, withRunMetrics } from './outputs.js';
import { addLinkOption, addRunFileOptions, addSelectionOptions, collect, parseBool, positiveInt, selectionOf, type LinkFlags, type RunFileFlags, type SelectionFlags , newCommand, STORAGE_ARGUMENT } from './shared.js';

interface SyncFlags extends SelectionFlags, LinkFlags, TargetFlags, RunFileFlags {
  out?: string;
  concurrency?: string;
  retries?: string;
  breaker?: string;
  abortOnError?: boolean;
  imageTimeout?: string;
  dryRun?: boolean;
  report?: string;
  createProjects?: boolean;
  overwrite?: boolean;
  checkQuota?: boolean;
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
  mapProject: string[];
  mapProjectsFile?: string;
  rootProject?: string;
}

/**
 * --map-project, --map-projects-file (one SRC=DST a line, `#` comments; what `tags --map-file` writes) and
 * --root-project, checked (exit 2 naming every bad value).
 */
export async function namingOf(flags: TargetFlags, io: Io): Promise<Pick<PushTarget, 'projects' | 'rootProject'>> {
  const fromFile: string[] = [];
  if (flags.mapProjectsFile !== undefined) {
    const file = path.resolve(io.cwd, flags.mapProjectsFile);
    const text = await readFile(file, 'utf8').catch((error: NodeJS.ErrnoException) => {
      throw new UsageError(`cannot read --map-projects-file ${file}: ${error.code ?? error.message}`);
    });
    for (const line of text.split('\n')) {
      const entry = line.replace(/#.*/, '').trim();
      if (entry !== '') fromFile.push(entry);
    }
  }
  return parseProjectNaming([...fromFile, ...flags.mapProject], flags.rootProject);
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
  if (!flags.destTlsVerify) {
    // Said once at the start (cron mail, journald) and recorded in the report as "tlsVerify": false.
    io.stderr(`warning: TLS verification of ${parseTarget(flags.to).host} is off (--dest-tls-verify=false): its certificate is not checked and plain http is allowed\n`);
  }
  return {
    destTlsVerify: flags.destTlsVerify,
    ...(flags.destAuthfile !== undefined ? { destAuthFile: flags.destAuthfile } : {}),
    ...(flags.destCertDir !== undefined ? { destCertDir: flags.destCertDir } : {}),
    ...(passwordFromStdin !== undefined ? { passwordFromStdin } : {}),
    // Which file (or variables) a DR run used is the first thing to check when the target says "unauthorized".
    onCredentials: (host, credentials) => io.stderr(`using credentials for ${host} from ${credentials.source}\n`),
    onNoEntry: (host, file) =>
      io.stderr(`warning: auth file "${file}" has no entry for ${host} (log in to exactly that host[:port]: skopeo login --authfile ${file} ${host}); going on without credentials\n`),
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
    .option('--dest-tls-verify [bool]', 'verify the target\'s TLS certificate (--dest-tls-verify=false to skip; plain http is then allowed)', parseBool, true)
    .option('--map-project <src=dst>', 'push repositories of project SRC into project DST (the first path component renamed): dockerhub=dockerhub-archive; repeatable', collect, [])
    .option('--map-projects-file <file>', 'SRC=DST lines (as tags --map-file writes them for proxy-cache projects), as many --map-project')
    .option('--root-project <name>', 'place root-level repositories (alpine, with no project) under project NAME: library/alpine');
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
  const command = newCommand('sync', io.env)
    .description('export every tag and push it into a target registry with skopeo sync: concurrent, digest-preserving, incremental, verified')
    .argument('<storage>', STORAGE_ARGUMENT)
    .option('--out <dir>', 'where layouts are exported (default: <storage>/registry-rescue-export, beside docker/)')
    .option('--concurrency <n>', `skopeo processes at once, never two into one repository (default ${DEFAULT_SYNC_CONCURRENCY}, at most ${MAX_SYNC_CONCURRENCY})`)
    .option('--retries <n>', `retries of a transient failure (connection, 5xx, 429, expired token), for the push and the HEADs around it, with growing delays and jitter; skopeo's own retries are off (default ${DEFAULT_RETRIES})`)
    .option('--image-timeout <duration>', 'stop a push that takes longer (then retried like a transient failure): 90s, 30m, 2h (default: 10m plus 1 s per MiB of the image)')
    .option('--breaker <n>', `stop starting pushes after N images in a row could not reach the target, or N in a row got its own server error (HTTP 500, 501, 505-599: a full disk); the rest are reported not-attempted, exit 4 (0: never; default ${DEFAULT_BREAKER})`)
    .option('--abort-on-error', 'stop starting pushes after the first failed image')
    .option('--dry-run', 'show every target reference and skopeo command line, and what would be skipped; touch nothing, contact nothing')
    .option('--report <file>', 'write the per-image result as JSON to FILE (atomically)')
    .option('--prune', 'remove exported layouts whose tag is gone from the storage (as export --prune)')
    .option('--create-projects', 'create missing Harbor projects (private) before their first push, mapped ones (--map-project, --root-project) included')
    .option('--check-quota', 'with --dry-run: ask the target Harbor (read-only) for each project\'s storage quota and compare it with the bytes the run would push there')
    .option('--overwrite', 'replace a target tag that holds another image than the source (default: report it as drift and leave it alone)')
    .option('--skopeo <path>', 'the skopeo binary', 'skopeo')
    .option('--json', 'print the report JSON on stdout instead of text')
    .option('-v, --verbose', 'also list up-to-date, skipped and broken images, and those an interrupt kept from starting')
    .option('-q, --quiet', 'no progress on stderr');
  addRunFileOptions(addLinkOption(addSelectionOptions(addTargetOptions(command))), { lock: true }).addHelpText(
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
    const reportFile = await checkReportPath(io, flags.report);
    const metricsFile = await checkMetricsPath(io, flags.metricsFile, flags.dryRun === true);
    const startedMs = Date.now();
    await withRunMetrics(io, { file: metricsFile, command: 'sync', shard: flags.shard, startedAt: startedMs }, async (record) => {
      const naming = await namingOf(flags, io);
      if (flags.checkQuota && !flags.dryRun) throw new UsageError('--check-quota goes with --dry-run (a real run meets the quota when it pushes)');
      const access = await targetAccess(flags, io);
      const progress = createProgress(io.stderr, { isTTY: io.isTTY, quiet: flags.quiet === true, verbose: flags.verbose === true, color: io.color === true, columns: () => io.columns, signal: io.signal });
      const verbose = flags.verbose === true || flags.dryRun === true;
      const dryRun = flags.dryRun === true;
      const startedAt = new Date().toISOString();
      progress.event({ kind: 'run:start', command: 'sync', storage, ...startTarget(flags.to), ...(flags.out ? { out: flags.out } : {}), dryRun });
      // Loaded only for this command: it brings skopeo's process handling (execa) and the registry client.
      const { openSync } = await import('../run-sync.js');
      const chosen = selectionOf(flags);
      const run = await openSync(
        {
          storage,
          to: flags.to,
          ...(flags.out !== undefined ? { out: flags.out } : {}),
          ...chosen,
          dryRun,
          command: 'sync',
          ...(flags.waitLock !== undefined ? { waitLockMs: parseDuration(flags.waitLock, '--wait-lock') } : {}),
          prune: flags.prune === true,
          link: flags.link ?? 'hard',
          concurrency: positiveInt('--concurrency', flags.concurrency, DEFAULT_SYNC_CONCURRENCY, 1, MAX_SYNC_CONCURRENCY),
          retries: positiveInt('--retries', flags.retries, DEFAULT_RETRIES, 0),
          breaker: positiveInt('--breaker', flags.breaker, DEFAULT_BREAKER, 0),
          abortOnError: flags.abortOnError === true,
          ...(flags.imageTimeout !== undefined ? { imageTimeoutMs: parseDuration(flags.imageTimeout, '--image-timeout') } : {}),
          createProjects: flags.createProjects === true,
          overwrite: flags.overwrite === true,
          checkQuota: flags.checkQuota === true,
          naming,
          skopeo: flags.skopeo,
          ...access,
        },
        { cwd: io.cwd, onExit: (cleanup) => io.onExit(cleanup), env: io.env, signal: io.signal, emit: (e) => progress.event(e) },
      );
      const head = { command: 'sync', storage: run.storage, target: flags.to, tlsVerify: access.destTlsVerify, out: run.out, dryRun, startedAt };
      const doc = flags.json || reportFile ? openDocuments(io, { json: flags.json === true, reportFile, head, key: 'images' }) : undefined;
      const attention = createAttention();
      for await (const r of run.results) {
        doc?.item(r);
        attention.add(r);
        if (flags.json) continue;
        // Off a terminal (cron mail, journald) every line of a real run carries its time; a dry run is a preview.
        const line = renderSyncLine(r, { verbose, ...(io.isTTY || dryRun ? {} : { stamp: new Date().toISOString() }) });
        if (line) {
          progress.close();
          io.stdout(line);
        }
      }
      const { totals, exportSummary, issues } = await run.finish();
      progress.event({ kind: 'run:done', ms: totals.ms });
      progress.close();
      if (!flags.json) io.stderr(renderSyncSummary(totals, attention.lines(), { dryRun, target: flags.to, selection: exportSummary, ...(chosen.shard ? { shard: chosen.shard } : {}) }));
      const selection = selectionJson(exportSummary, { pruned: true });
      // After the summary, so a full disk at the very end still leaves the person the results.
      const figures = { counts: totals.counts, bytesPushed: totals.bytesSynced, bytesDownloaded: exportSummary.bytesDownloaded, tagsSelected: totals.selected, tagsInStorage: exportSummary.tags };
      const tail = { finishedAt: new Date().toISOString(), interrupted: io.signal.aborted, selection, summary: { ...totals, bytesDownloaded: exportSummary.bytesDownloaded } };
      await finishRun(io, doc, tail, figures, issues, { json: flags.json === true }, record);
    });
  });
}

/**
 * The target for the log's first line, as parsed (a valid host has no `user:password@`); none when --to is invalid:
 * the run then stops at once with the usage error, which names it.
 */
function startTarget(to: string): { target?: string } {
  try {
    const { host, prefix } = parseTarget(to);
    return { target: prefix ? `${host}/${prefix}` : host };
  } catch {
    return {};
  }
}
