#!/usr/bin/env node
// Fake skopeo that answers `--version` like 1.9.3 and exits 0 for everything else WITHOUT doing anything: a
// `sync` that claims success but pushed nothing, to prove that sync checks the target's digest after each push.
// With SKOPEO_RECORD_FILE set it appends its argv there as one JSON line (as skopeo-record.js does).
import { appendFileSync } from 'node:fs';

const args = process.argv.slice(2);
if (process.env.SKOPEO_RECORD_FILE) appendFileSync(process.env.SKOPEO_RECORD_FILE, `${JSON.stringify(args)}\n`);
if (args.includes('--version')) process.stdout.write('skopeo version 1.9.3\n');
process.exitCode = 0;
