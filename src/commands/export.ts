/** `registry-rescue export <storage> --out DIR`: one skopeo dir: layout per tag, made of links to the blobs. */
import { Command } from 'commander';
import type { Io } from '../io.js';
import { exportLine, imageJson, renderSummaryText } from '../report/render-export.js';
import { createProgress } from '../report/progress.js';
import { exportIssues, openExport } from '../run-export.js';
import { checkMetricsPath, checkReportPath, finishRun, openDocuments, withRunMetrics } from './outputs.js';
import { parseDuration } from '../core/duration.js';
import { addLinkOption, addRunFileOptions, addSelectionOptions, selectionOf, type LinkFlags, type RunFileFlags, type SelectionFlags , newCommand, STORAGE_ARGUMENT } from './shared.js';

interface ExportFlags extends SelectionFlags, LinkFlags, RunFileFlags {
  out: string;
  dryRun?: boolean;
  json?: boolean;
  report?: string;
  prune?: boolean;
  verbose?: boolean;
  quiet?: boolean;
}

/** Builds the `export` command. */
export function exportCommand(io: Io): Command {
  const command = newCommand('export', io.env)
    .description('write DIR/<repository>:<tag>/ as a skopeo dir: layout for every exportable tag (hard links, no data copied)')
    .argument('<storage>', STORAGE_ARGUMENT)
    .requiredOption('--out <dir>', 'output directory (on the storage filesystem for --link hard, outside docker/registry/v2)')
    .option('--dry-run', 'print what would be created (per image: dir, files, bytes, problems) and touch nothing')
    .option('--json', 'print the result as one JSON object { version, command, images, summary }, written image by image')
    .option('--report <file>', 'also write that JSON document to FILE (atomically, also after an interrupt)')
    .option('--prune', 'remove layouts in DIR whose tag is gone from the storage (or was deleted through the API)')
    .option('-v, --verbose', 'also list created and unchanged layouts')
    .option('-q, --quiet', 'no progress on stderr');
  addRunFileOptions(addLinkOption(addSelectionOptions(command)), { lock: true }).addHelpText(
    'after',
    `
Examples:
  registry-rescue export /data/registry --out /data/registry-rescue --dry-run
  registry-rescue export /data/registry --out /data/registry-rescue --tags-file rescue.tags --prune
  registry-rescue export /mnt/harbor-pvc --out /tmp/rescue --link symlink      # read-only volume or other filesystem`,
  );
  return command.action(async (storage: string, flags: ExportFlags) => {
    const reportFile = await checkReportPath(io, flags.report);
    const metricsFile = await checkMetricsPath(io, flags.metricsFile, flags.dryRun === true);
    const startedMs = Date.now();
    await withRunMetrics(io, { file: metricsFile, command: 'export', shard: flags.shard, startedAt: startedMs }, async (record) => {
      const progress = createProgress(io.stderr, { isTTY: io.isTTY, quiet: flags.quiet === true || flags.json === true, color: io.color === true, columns: () => io.columns, signal: io.signal });
      const started = performance.now();
      const dryRun = flags.dryRun === true;
      progress.event({ kind: 'run:start', command: 'export', storage, out: flags.out, dryRun });
      const chosen = selectionOf(flags);
      const run = await openExport(
        {
          storage, out: flags.out, ...chosen, dryRun, prune: flags.prune === true, link: flags.link ?? 'hard', command: 'export',
          ...(flags.waitLock !== undefined ? { waitLockMs: parseDuration(flags.waitLock, '--wait-lock') } : {}),
        },
        {
          cwd: io.cwd,
          env: io.env,
          signal: io.signal,
          onExit: (cleanup) => io.onExit(cleanup),
          emit: (e) => {
            progress.event(e);
            if (e.kind === 'prune:removed' && !flags.json) io.stdout(`${e.dryRun ? 'would prune' : 'pruned'.padEnd(11)}   ${e.id}\n`);
          },
        },
      );
      const out = run.store?.out ?? flags.out;
      const head = { command: 'export', storage: run.storage.v2, out, dryRun, startedAt: new Date().toISOString() };
      const doc = flags.json || reportFile ? openDocuments(io, { json: flags.json === true, reportFile, head, key: 'images' }) : undefined;
      for await (const r of run.results) {
        doc?.item(imageJson(r, out));
        const line = flags.json ? '' : exportLine(r, out, { dryRun, verbose: flags.verbose === true });
        if (line) io.stdout(line);
      }
      const summary = await run.finish();
      progress.event({ kind: 'run:done', ms: performance.now() - started });
      progress.close();
      const issues = exportIssues(summary);
      if (!flags.json) io.stderr(renderSummaryText(summary, { command: 'export', dryRun, stopped: io.signal.aborted, ...(chosen.shard ? { shard: chosen.shard } : {}) }));
      const figures = { counts: summary.counts, bytesPushed: 0, bytesDownloaded: summary.bytesDownloaded, tagsSelected: summary.selected, tagsInStorage: summary.tags };
      await finishRun(io, doc, { finishedAt: new Date().toISOString(), interrupted: io.signal.aborted, summary }, figures, issues, { json: flags.json === true }, record);
    });
  });
}
