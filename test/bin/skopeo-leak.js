#!/usr/bin/env node
// Fake skopeo that answers `--version` like 1.9.3 and fails every other call after printing the credentials it
// was given, on stdout and in its fatal line: the auth file's content, the decoded `user:password`, and its
// environment's REGISTRY_RESCUE_PASSWORD if any. The worst a tool could echo: what registry-rescue keeps of its
// output (report, log, messages) must still hold no password.
import { readFileSync } from 'node:fs';

const args = process.argv.slice(2);
if (args.includes('--version')) {
  process.stdout.write('skopeo version 1.9.3\n');
  process.exit(0);
}
const i = args.findIndex((a) => /^--(?:dest-)?authfile$/.test(a));
let content = '';
let decoded = '';
try {
  content = readFileSync(args[i + 1], 'utf8');
  const auths = JSON.parse(content).auths ?? {};
  decoded = Object.values(auths).map((e) => Buffer.from(e.auth ?? '', 'base64').toString('utf8')).join(' ');
} catch {
  // no auth file: nothing to leak from it
}
const env = process.env.REGISTRY_RESCUE_PASSWORD ?? '';
process.stdout.write(`auth file: ${content}\ndecoded: ${decoded}\nenv: ${env}\n`);
const msg = `Error copying ref "dir:x": writing manifest: unauthorized: user ${decoded} ${env} refused (auth ${content.trim()})`;
process.stderr.write(`time="2025-01-01T00:00:00Z" level=fatal msg=${JSON.stringify(msg)}\n`);
process.exitCode = 1;
