/** `registry-rescue verify <storage> --to …`: is every source tag in the target, with the same digest? */
import { Command } from 'commander';
import { localReason, plural } from '../core/results.js';
import type { Io } from '../io.js';
import { createProgress } from '../report/progress.js';
import { selectionJson, selectionLines } from '../report/render-export.js';
import { exportIssues } from '../run-export.js';
import type { VerifyResult } from '../run-verify.js';
import { checkMetricsPath, checkReportPath, finishRun, openDocuments, withRunMetrics } from './outputs.js';
import { addRunFileOptions, addSelectionOptions, selectionOf, type RunFileFlags, type SelectionFlags , newCommand, STORAGE_ARGUMENT } from './shared.js';
import { addTargetOptions, namingOf, targetAccess, type TargetFlags } from './sync.js';

interface VerifyFlags extends SelectionFlags, TargetFlags, RunFileFlags {
  json?: boolean;
  report?: string;
  verbose?: boolean;
  quiet?: boolean;
}

/** Builds the `verify` command. */
export function verifyCommand(io: Io): Command {
  const command = newCommand('verify', io.env)
    .description('compare every selected source tag with the target, without pushing: ok / missing / different (an earlier revision of the tag) / drift (an image the source tag never held) / broken (at source) / skipped / failed')
    .argument('<storage>', STORAGE_ARGUMENT)
    .option('--json', 'print { version, command, images, summary } as JSON, written image by image')
    .option('--report <file>', 'also write that JSON document to FILE (atomically)')
    .option('-v, --verbose', 'also list tags that are ok')
    .option('-q, --quiet', 'no progress on stderr');
  addRunFileOptions(addSelectionOptions(addTargetOptions(command)), { lock: false }).addHelpText(
    'after',
    `
Examples:
  registry-rescue verify /data/registry --to harbor-new.example.com --dest-authfile /root/auth.json
  registry-rescue verify /data/registry --to harbor-new.example.com --json > /var/log/rescue-audit.json`,
  );
  return command.action(async (storage: string, flags: VerifyFlags) => {
    const reportFile = await checkReportPath(io, flags.report);
    const metricsFile = await checkMetricsPath(io, flags.metricsFile);
    const startedMs = Date.now();
    await withRunMetrics(io, { file: metricsFile, command: 'verify', shard: flags.shard, startedAt: startedMs }, async (record) => {
      const progress = createProgress(io.stderr, { isTTY: io.isTTY, quiet: flags.quiet === true || flags.json === true, color: io.color === true, columns: () => io.columns, signal: io.signal });
      const started = performance.now();
      const access = await targetAccess(flags, io);
      const { openVerify } = await import('../run-verify.js');
      const run = await openVerify(
        {
          storage, to: flags.to, ...selectionOf(flags), naming: await namingOf(flags, io),
          ...access,
        },
        { cwd: io.cwd, env: io.env, signal: io.signal, emit: (e) => progress.event(e) },
      );
      const head = { command: 'verify', storage: run.storage, target: flags.to, tlsVerify: access.destTlsVerify, startedAt: new Date().toISOString() };
      const doc = flags.json || reportFile ? openDocuments(io, { json: flags.json === true, reportFile, head, key: 'images' }) : undefined;
      let checked = 0;
      for await (const r of run.results) {
        checked++;
        doc?.item(r);
        if (!flags.json && (flags.verbose || (r.status !== 'ok' && !(r.status === 'skipped' && !r.reason)))) io.stdout(renderLine(r));
      }
      const { counts: c, exportSummary } = await run.finish();
      progress.event({ kind: 'run:done', ms: performance.now() - started });
      progress.close();
      // As sync's: the tags file's bookkeeping (listed tags the storage lacks, what it left out), which can make
      // the run partial; with --json the document is all a monitor reads.
      const selection = selectionJson(exportSummary);
      const issues = exportIssues(exportSummary);
      if (!flags.json) {
        io.stderr(`${plural(checked, 'tag')} checked against ${flags.to}: ${c.ok} ok, ${c.missing} missing, ${c.different} different, ${c.drift} drift, ${c.broken} broken at source, ${c.skipped} skipped, ${c.failed} failed\n`);
        const notes = selectionLines(exportSummary, selectionOf(flags).shard, { stopped: io.signal.aborted });
        if (notes.length > 0) io.stderr(`${notes.join('\n')}\n`);
      }
      const figures = { counts: c, bytesPushed: 0, bytesDownloaded: exportSummary.bytesDownloaded, tagsSelected: checked, tagsInStorage: exportSummary.tags };
      const tail = { finishedAt: new Date().toISOString(), interrupted: io.signal.aborted, selection, summary: { counts: c, selected: checked, unreadable: exportSummary.unreadable } };
      await finishRun(io, doc, tail, figures, issues, { json: flags.json === true }, record);
    });
  });
}

function renderLine(r: VerifyResult): string {
  return `${r.status.padEnd(16)} ${r.source} -> ${r.target}${r.reason ? `\n                 ${localReason(r.reason, r.source)}` : ''}\n`;
}
