/**
 * examples/: each scheduler example is parsed as its scheduler would (cron.d lines, systemd ini, Kubernetes
 * YAML 1.1), its important fields are asserted, and then its registry-rescue command is run for real as a
 * dry run against a copy of the fixture storage, with the example's paths swapped for temp paths and the
 * target for a closed port (sync --dry-run contacts nothing). The fixture has broken tags, so: exit 4.
 *
 * Some examples use options that are being added in parallel (issue 8): --metrics-file, --shard and the
 * REGISTRY_RESCUE_* environment settings (their help text is there, but commander ignores the variables:
 * program.ts calls option.env() after addOption(), too late for commander's listener). Tests that run such a
 * command are named "[needs …]" and skip while the CLI lacks it; EXAMPLES_REQUIRE_ALL_OPTIONS=1 makes them
 * run (and fail) anyway, so a merge can prove none is still skipped.
 */
import { chmod, mkdir, readFile, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { execa } from 'execa';
import parsePrometheusTextFormat from 'parse-prometheus-text-format';
import { describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { BIN, cli, copyFixture, expectedTags, FIXTURE_STORAGE as FIXTURE_STORAGE_DIR, ROOT } from './helpers/cli.js';
import { makeTempDir } from './helpers/registry.js';

const EXAMPLES = path.join(ROOT, 'examples');
const CLOSED_TARGET = '127.0.0.1:1';
const EXAMPLE_TARGET = 'harbor-dr.example.com';
const IMAGE_PLACEHOLDER = 'registry.example.com/registry-rescue:latest';
const CREDENTIAL_FLAGS = /--(dest-)?creds\b|--(dest-)?password(?!-stdin)\b|--(dest-)?username\b|:\/\/[^/\s:@]+:[^/\s@]+@/;

// ---------------------------------------------------------------- what the CLI supports yet

const syncHelp = (await cli(['sync', '--help'])).stdout;
const envWorks = await probeEnvironmentOptions();
const systemdAnalyze = (await execa('systemd-analyze', ['--version'], { reject: false })).exitCode === 0;
const strict = process.env.EXAMPLES_REQUIRE_ALL_OPTIONS === '1';
const lacks = {
  metricsFile: !strict && !syncHelp.includes('--metrics-file'),
  shard: !strict && !syncHelp.includes('--shard'),
  env: !strict && !envWorks,
};

/** Whether REGISTRY_RESCUE_TO and REGISTRY_RESCUE_DRY_RUN=1 reach sync (a value and a flag). */
async function probeEnvironmentOptions(): Promise<boolean> {
  const { storage } = await copyFixture();
  const r = await cli(['sync', storage, '-q', '--json'], {
    env: { REGISTRY_RESCUE_TO: CLOSED_TARGET, REGISTRY_RESCUE_DRY_RUN: '1' },
  });
  return r.exitCode === 4 && (JSON.parse(r.stdout) as { dryRun?: boolean }).dryRun === true;
}

// ---------------------------------------------------------------- parsers

/** Shell words of a simple command line: '…', "…" and backslash escapes; no expansion. */
function shellWords(line: string): string[] {
  const words: string[] = [];
  let word: string | null = null;
  for (let i = 0; i < line.length; i++) {
    const c = line[i]!;
    if (/\s/.test(c)) {
      if (word !== null) words.push(word);
      word = null;
    } else if (c === "'") {
      const end = line.indexOf("'", i + 1);
      word = (word ?? '') + line.slice(i + 1, end);
      i = end;
    } else if (c === '"') {
      const end = line.indexOf('"', i + 1);
      word = (word ?? '') + line.slice(i + 1, end);
      i = end;
    } else if (c === '\\') {
      word = (word ?? '') + (line[++i] ?? '');
    } else word = (word ?? '') + c;
  }
  if (word !== null) words.push(word);
  return words;
}

/** The registry-rescue argv in `words`: from the word naming the program up to a redirection. */
function registryRescueArgs(words: string[]): string[] {
  const start = words.findIndex((w) => path.basename(w) === 'registry-rescue');
  expect(start, `no registry-rescue in ${words.join(' ')}`).toBeGreaterThanOrEqual(0);
  const rest = words.slice(start + 1);
  const end = rest.findIndex((w) => /^\d*(>>?|<)|^[|&;]/.test(w));
  return end === -1 ? rest : rest.slice(0, end);
}

interface CronFile {
  env: Record<string, string>;
  jobs: { time: string[]; user: string; command: string }[];
  comments: string[];
}

/** A cron.d file: NAME=value lines, and jobs of 5 time fields, a user and a command. */
function parseCronD(text: string): CronFile {
  const file: CronFile = { env: {}, jobs: [], comments: [] };
  for (const line of text.split('\n').map((l) => l.trim())) {
    if (line === '') continue;
    if (line.startsWith('#')) file.comments.push(line.slice(1).trim());
    else if (/^[A-Za-z_][A-Za-z0-9_]*=/.test(line)) {
      const eq = line.indexOf('=');
      file.env[line.slice(0, eq)] = line.slice(eq + 1);
    } else {
      const m = /^(\S+)\s+(\S+)\s+(\S+)\s+(\S+)\s+(\S+)\s+(\S+)\s+(.+)$/.exec(line);
      expect(m, `not a cron.d job line: ${line}`).not.toBeNull();
      file.jobs.push({ time: m!.slice(1, 6), user: m![6]!, command: m![7]! });
    }
  }
  return file;
}

const CRON_RANGES = [[0, 59], [0, 23], [1, 31], [1, 12], [0, 7]] as const;

/** Whether `field` is a valid cron time field (numbers, ranges, lists, steps; no names) within [lo, hi]. */
function validCronField(field: string, [lo, hi]: readonly [number, number]): boolean {
  return field.split(',').every((part) => {
    const m = /^(\*|(\d+)(?:-(\d+))?)(?:\/(\d+))?$/.exec(part);
    if (!m) return false;
    return [m[2], m[3]].every((n) => n === undefined || (Number(n) >= lo && Number(n) <= hi)) && m[4] !== '0';
  });
}

type Ini = Map<string, Map<string, string[]>>;

/** A systemd unit file: [Section] headers, Key=Value lines (repeatable keys kept in order), # and ; comments. */
function parseIni(text: string): Ini {
  const ini: Ini = new Map();
  let section: Map<string, string[]> | undefined;
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#') || line.startsWith(';')) continue;
    const header = /^\[([^\]]+)\]$/.exec(line);
    if (header) {
      section = ini.get(header[1]!) ?? new Map();
      ini.set(header[1]!, section);
      continue;
    }
    const eq = line.indexOf('=');
    expect(section, `key outside a section: ${line}`).toBeDefined();
    expect(eq, `not Key=Value: ${line}`).toBeGreaterThan(0);
    const key = line.slice(0, eq).trim();
    section!.set(key, [...(section!.get(key) ?? []), line.slice(eq + 1).trim()]);
  }
  return ini;
}

/** The last value of `key` in `section` (systemd: later assignments win). */
function iniValue(ini: Ini, section: string, key: string): string | undefined {
  return ini.get(section)?.get(key)?.at(-1);
}

/** An EnvironmentFile: KEY=value lines, # comments, optional quotes around the value. */
function parseEnvFile(text: string): Record<string, string> {
  const env: Record<string, string> = {};
  for (const line of text.split('\n').map((l) => l.trim())) {
    if (line === '' || line.startsWith('#')) continue;
    const m = /^([A-Za-z_][A-Za-z0-9_]*)=(.*)$/.exec(line);
    expect(m, `not KEY=value: ${line}`).not.toBeNull();
    env[m![1]!] = m![2]!.replace(/^(["'])(.*)\1$/, '$2');
  }
  return env;
}

/** Kubernetes reads YAML 1.1 (sigs.k8s.io/yaml): 0440 is octal there, 440 in YAML 1.2. */
async function readManifests(file: string): Promise<Record<string, any>[]> {
  const docs = parseAllDocuments(await readFile(path.join(EXAMPLES, file), 'utf8'), { version: '1.1' });
  for (const doc of docs) expect(doc.errors, file).toEqual([]);
  return docs.map((d) => d.toJS() as Record<string, any>).filter((d) => d !== null);
}

/** Every REGISTRY_RESCUE_* name in `text` (set or commented out) that names no option of sync (so would be ignored). */
function unknownEnvOptions(text: string): string[] {
  const flags = new Set([...syncHelp.matchAll(/^\s*(?:-\w, )?--([a-z][a-z-]*)/gm)].map((m) => m[1]!));
  const credentials = ['REGISTRY_RESCUE_USERNAME', 'REGISTRY_RESCUE_PASSWORD'];
  const names = [...text.matchAll(/^#?\s*(REGISTRY_RESCUE_[A-Z_]+)=/gm)].map((m) => m[1]!);
  return names.filter((n) => !credentials.includes(n) && !flags.has(n.slice('REGISTRY_RESCUE_'.length).toLowerCase().replaceAll('_', '-')));
}

// ---------------------------------------------------------------- running an example's command

interface Sandbox {
  storage: string;
  /** Example path → temp path, longest first. */
  paths: [string, string][];
  tagsFile: string;
  authFile: string;
  binDir: string;
}

/** A fixture copy, a tags file selecting everything, an auth file for the closed target, a PATH shim. */
async function makeSandbox(paths: (s: { storage: string; dir: string }) => [string, string][]): Promise<Sandbox> {
  const { dir, storage } = await copyFixture();
  const conf = path.join(dir, 'conf');
  const binDir = path.join(dir, 'bin');
  await mkdir(conf);
  await mkdir(binDir);
  const tagsFile = path.join(conf, 'rescue.tags');
  const authFile = path.join(conf, 'auth.json');
  await writeFile(tagsFile, '# every tag of the fixture, broken ones included\n**\n');
  const auth = Buffer.from('rescue:not-a-real-password').toString('base64');
  await writeFile(authFile, JSON.stringify({ auths: { [CLOSED_TARGET]: { auth } } }), { mode: 0o600 });
  // What the image has on PATH: the CLI of this checkout.
  await writeFile(path.join(binDir, 'registry-rescue'), `#!/bin/sh\nexec node ${JSON.stringify(BIN)} "$@"\n`);
  await chmod(path.join(binDir, 'registry-rescue'), 0o755);
  const pairs = paths({ storage, dir }).sort((a, b) => b[0].length - a[0].length);
  return { storage, paths: pairs, tagsFile, authFile, binDir };
}

/** `value` with an example path (whole, or followed by /) or the example target swapped for the sandbox's. */
function substitute(value: string, box: Sandbox): string {
  if (value === EXAMPLE_TARGET) return CLOSED_TARGET;
  for (const [from, to] of box.paths) {
    if (value === from || value.startsWith(`${from}/`)) return to + value.slice(from.length);
  }
  return value;
}

interface DryRunReport {
  command: string;
  dryRun: boolean;
  target: string;
  out: string;
  images: { id: string; status: string; target: string }[];
}

/** The dry run of the whole fixture with plain argv: what every example's dry run must match. */
async function referenceDryRun(box: Sandbox): Promise<DryRunReport> {
  const r = await cli(['sync', box.storage, '--to', CLOSED_TARGET, '--tags-file', box.tagsFile, '--dry-run', '--json', '-q']);
  expect(r.exitCode, r.stderr).toBe(4);
  return JSON.parse(r.stdout) as DryRunReport;
}

/** Asserts an example's dry-run report: the whole fixture, the same statuses as the reference, nothing pushed. */
async function expectDryRunReport(file: string, box: Sandbox): Promise<DryRunReport> {
  const report = JSON.parse(await readFile(file, 'utf8')) as DryRunReport;
  const reference = await referenceDryRun(box);
  expect(report).toMatchObject({ command: 'sync', dryRun: true, target: CLOSED_TARGET });
  const expected = await expectedTags();
  expect(report.images.map((i) => i.id).sort()).toEqual(expected.map((t) => `${t.repository}:${t.tag}`).sort());
  const statuses = (r: DryRunReport) => Object.fromEntries(r.images.map((i) => [i.id, i.status]));
  expect(statuses(report)).toEqual(statuses(reference));
  expect(report.images.filter((i) => i.status === 'broken').length).toBeGreaterThan(0);
  for (const image of report.images) expect(image.target).toBe(`${CLOSED_TARGET}/${image.id}`);
  await expect(stat(report.out), 'a dry run creates no output directory').rejects.toThrow(/ENOENT/);
  return report;
}

/** Asserts a Prometheus textfile, if the dry run wrote one: parseable, every family registry_rescue_*. */
async function expectMetricsIfWritten(file: string, labels: Record<string, string> = {}): Promise<void> {
  const text = await readFile(file, 'utf8').catch(() => null);
  if (text === null) return;
  const families = parsePrometheusTextFormat(text);
  expect(families.length).toBeGreaterThan(0);
  for (const family of families) {
    expect(family.name).toMatch(/^registry_rescue_/);
    for (const sample of family.metrics) expect(sample.labels ?? {}).toMatchObject(labels);
  }
}

// ---------------------------------------------------------------- crontab

describe('examples/crontab', () => {
  const read = async () => parseCronD(await readFile(path.join(EXAMPLES, 'crontab'), 'utf8'));

  it('is one nightly cron.d job as root: 5 time fields, user, a registry-rescue sync of /data/registry, logged to a file', async () => {
    const cron = await read();
    expect(cron.jobs).toHaveLength(1);
    const job = cron.jobs[0]!;
    job.time.forEach((field, i) => expect(validCronField(field, CRON_RANGES[i]!), `time field ${i + 1}: ${field}`).toBe(true));
    expect(job.time.slice(2)).toEqual(['*', '*', '*']);
    expect(job.user).toBe('root');
    expect(job.command, 'cron turns % into a newline').not.toContain('%');
    const words = shellWords(job.command);
    expect(registryRescueArgs(words).slice(0, 2)).toEqual(['sync', '/data/registry']);
    const args = registryRescueArgs(words);
    expect(args[args.indexOf('--metrics-file') + 1]).toBe('/var/lib/node_exporter/textfile_collector/registry_rescue.prom');
    expect(args[args.indexOf('--report') + 1]).toMatch(/^\/var\/log\/.+\.json$/);
    expect(job.command).toMatch(/>>\s*\/var\/log\/\S+\.log 2>&1$/);
    expect(cron.env.PATH?.split(':')).toContain('/usr/local/bin');
  });

  it('keeps the line short with REGISTRY_RESCUE_* settings that name real options, and credentials in an auth file', async () => {
    const text = await readFile(path.join(EXAMPLES, 'crontab'), 'utf8');
    const cron = parseCronD(text);
    expect(cron.env).toMatchObject({ REGISTRY_RESCUE_TO: EXAMPLE_TARGET, REGISTRY_AUTH_FILE: expect.stringMatching(/^\//) });
    expect(unknownEnvOptions(text)).toEqual([]);
    expect(text).not.toMatch(CREDENTIAL_FLAGS);
    expect(Object.keys(cron.env)).not.toContain('REGISTRY_RESCUE_PASSWORD');
  });

  it('shows the flock -n alternative to the built-in lock as a commented job line', async () => {
    const cron = await read();
    const alternative = cron.comments.find((c) => /^\S+ \S+ \S+ \S+ \S+ root flock -n /.test(c));
    expect(alternative).toBeDefined();
    const job = parseCronD(alternative!).jobs[0]!;
    expect(job.command).toMatch(/^flock -n -E 75 \S+ registry-rescue sync /);
    expect(cron.comments.join('\n')).toContain('--wait-lock');
  });

  it.skipIf(lacks.env || lacks.metricsFile)('[needs --metrics-file, REGISTRY_RESCUE_* fix] its command dry-runs on the fixture: exit 4, report and log shape', async () => {
    const cron = await read();
    const box = await makeSandbox(({ storage, dir }) => [
      ['/data/registry', storage],
      ['/etc/registry-rescue', path.join(dir, 'conf')],
      ['/var/log', path.join(dir, 'log')],
      ['/var/lib/node_exporter/textfile_collector', path.join(dir, 'textfile')],
    ]);
    await mkdir(path.join(path.dirname(box.storage), 'log'));
    await mkdir(path.join(path.dirname(box.storage), 'textfile'));
    const env = Object.fromEntries(Object.entries(cron.env).filter(([k]) => k.startsWith('REGISTRY_')).map(([k, v]) => [k, substitute(v, box)]));
    const args = registryRescueArgs(shellWords(cron.jobs[0]!.command)).map((a) => substitute(a, box));
    const r = await cli([...args, '--dry-run'], { env });
    expect(r.exitCode, r.stderr).toBe(4);
    // Off a terminal, as in cron: timestamped plain lines on stderr, no colour codes.
    expect(r.stderr).toMatch(/^\d{4}-\d\d-\d\dT[\d:.]+Z sync .*\(dry run\)$/m);
    expect(r.stderr).toMatch(/^\d{4}-\d\d-\d\dT[\d:.]+Z done after /m);
    expect(r.stderr + r.stdout).not.toMatch(/\x1b\[/);
    expect(r.stdout).toMatch(new RegExp(`^would-sync +library/alpine-like:3\\.19 -> ${CLOSED_TARGET}/library/alpine-like:3\\.19$`, 'm'));
    await expectDryRunReport(args[args.indexOf('--report') + 1]!, box);
    await expectMetricsIfWritten(args[args.indexOf('--metrics-file') + 1]!);
  });
});

// ---------------------------------------------------------------- systemd

describe('examples/systemd', () => {
  const dir = path.join(EXAMPLES, 'systemd');
  const unit = async (name: string) => parseIni(await readFile(path.join(dir, name), 'utf8'));

  it('registry-rescue.service is a oneshot sync of /data/registry, niced, reading the env file, 75 not a failure', async () => {
    const service = await unit('registry-rescue.service');
    expect([...service.keys()]).toEqual(['Unit', 'Service']);
    expect(iniValue(service, 'Service', 'Type')).toBe('oneshot');
    expect(iniValue(service, 'Service', 'EnvironmentFile')).toBe('/etc/registry-rescue/registry-rescue.env');
    const execStart = service.get('Service')?.get('ExecStart');
    expect(execStart).toHaveLength(1);
    const words = shellWords(execStart![0]!);
    expect(words[0]).toMatch(/^\/.*\/registry-rescue$/);
    const args = registryRescueArgs(words);
    expect(args.slice(0, 2)).toEqual(['sync', '/data/registry']);
    expect(args).toEqual(expect.arrayContaining(['--report', '--metrics-file']));
    expect(execStart![0]).not.toMatch(CREDENTIAL_FLAGS);
    const success = iniValue(service, 'Service', 'SuccessExitStatus')?.split(/\s+/);
    expect(success).toContain('75');
    expect(success).not.toContain('4');
    expect(Number(iniValue(service, 'Service', 'Nice'))).toBeGreaterThan(0);
    expect(iniValue(service, 'Service', 'IOSchedulingClass')).toMatch(/^(best-effort|idle)$/);
  });

  it('registry-rescue.timer runs it nightly, catching up after downtime', async () => {
    const timer = await unit('registry-rescue.timer');
    expect(iniValue(timer, 'Timer', 'OnCalendar')).toMatch(/^\*-\*-\* \d\d:\d\d(:\d\d)?$/);
    expect(iniValue(timer, 'Timer', 'Persistent')).toBe('true');
    expect(iniValue(timer, 'Install', 'WantedBy')).toBe('timers.target');
    expect(iniValue(timer, 'Timer', 'Unit') ?? 'registry-rescue.service').toBe('registry-rescue.service');
  });

  it('registry-rescue.env sets only real options, and no password', async () => {
    const text = await readFile(path.join(dir, 'registry-rescue.env'), 'utf8');
    const env = parseEnvFile(text);
    expect(env).toMatchObject({ REGISTRY_RESCUE_TO: EXAMPLE_TARGET, REGISTRY_AUTH_FILE: expect.stringMatching(/^\//) });
    expect(unknownEnvOptions(text)).toEqual([]);
    expect(Object.keys(env)).not.toContain('REGISTRY_RESCUE_PASSWORD');
    expect(text).not.toMatch(CREDENTIAL_FLAGS);
  });

  it.skipIf(!systemdAnalyze)('systemd-analyze verify accepts the units (when systemd-analyze is installed)', async () => {
    const tmp = await makeTempDir('rr-units-');
    const shim = path.join(tmp, 'registry-rescue');
    await writeFile(shim, '#!/bin/sh\n');
    await chmod(shim, 0o755);
    // verify checks that the ExecStart binary exists: point it at an executable of ours.
    const service = (await readFile(path.join(dir, 'registry-rescue.service'), 'utf8')).replace(/^ExecStart=\S+/m, `ExecStart=${shim}`);
    await writeFile(path.join(tmp, 'registry-rescue.service'), service);
    await writeFile(path.join(tmp, 'registry-rescue.timer'), await readFile(path.join(dir, 'registry-rescue.timer')));
    const r = await execa('systemd-analyze', ['verify', 'registry-rescue.service', 'registry-rescue.timer'], { cwd: tmp, reject: false });
    expect(`${r.stdout}${r.stderr}`.split('\n').filter((l) => l.includes('registry-rescue'))).toEqual([]);
  });

  it.skipIf(lacks.env || lacks.metricsFile)('[needs --metrics-file, REGISTRY_RESCUE_* fix] ExecStart with the env file dry-runs on the fixture: exit 4, report', async () => {
    const service = await unit('registry-rescue.service');
    const envFile = parseEnvFile(await readFile(path.join(dir, 'registry-rescue.env'), 'utf8'));
    const box = await makeSandbox(({ storage, dir: tmp }) => [
      ['/data/registry', storage],
      ['/etc/registry-rescue', path.join(tmp, 'conf')],
      ['/var/log/registry-rescue', path.join(tmp, 'logs')], // LogsDirectory=
      ['/var/lib/node_exporter/textfile_collector', path.join(tmp, 'conf')],
    ]);
    await mkdir(path.join(path.dirname(box.storage), 'logs'));
    const env = Object.fromEntries(Object.entries(envFile).map(([k, v]) => [k, substitute(v, box)]));
    const args = registryRescueArgs(shellWords(iniValue(service, 'Service', 'ExecStart')!)).map((a) => substitute(a, box));
    const r = await cli([...args, '--dry-run'], { env });
    expect(r.exitCode, r.stderr).toBe(4);
    await expectDryRunReport(args[args.indexOf('--report') + 1]!, box);
    await expectMetricsIfWritten(args[args.indexOf('--metrics-file') + 1]!);
  });
});


// ---------------------------------------------------------------- Kubernetes

type PodSpec = Record<string, any>;

/** Asserts what both Kubernetes examples share: the PVC, its node, the user, credentials from a Secret. */
function expectRescuePod(pod: PodSpec): { container: Record<string, any>; storageMount: string; authFile: string } {
  expect(pod.restartPolicy).toBe('Never');
  const pvc = pod.volumes.find((v: any) => v.persistentVolumeClaim);
  expect(pvc.persistentVolumeClaim.claimName).toBe('harbor-registry');
  // RWO: on the registry pod's node (podAffinity by hostname), or on a named node.
  const affinity = pod.affinity?.podAffinity?.requiredDuringSchedulingIgnoredDuringExecution?.[0];
  if (pod.nodeName === undefined) {
    expect(affinity.topologyKey).toBe('kubernetes.io/hostname');
    expect(affinity.labelSelector.matchLabels).toMatchObject({ component: 'registry' });
  }
  const sc = pod.securityContext;
  if (sc.runAsUser !== 0) expect(sc).toMatchObject({ runAsUser: 10000, fsGroup: 10000, fsGroupChangePolicy: 'OnRootMismatch' });
  expect(pod.containers).toHaveLength(1);
  const container = pod.containers[0];
  expect(container.image).toBe(IMAGE_PLACEHOLDER);
  const mountOf = (name: string) => container.volumeMounts.find((m: any) => m.name === name)?.mountPath as string;
  const storageMount = mountOf(pvc.name);
  expect(storageMount).toBeDefined();
  // Credentials: a Secret mounted as a file, named by REGISTRY_AUTH_FILE; no value in the manifest.
  const env = Object.fromEntries((container.env ?? []).map((e: any) => [e.name, e.value]));
  const secret = pod.volumes.find((v: any) => v.secret);
  expect(secret.secret.defaultMode).toBe(0o440); // YAML 1.1 octal, group-readable for fsGroup
  const item = secret.secret.items.find((i: any) => i.key === 'auth.json');
  expect(env.REGISTRY_AUTH_FILE).toBe(`${mountOf(secret.name)}/${item.path}`);
  expect(Object.keys(env).filter((k) => /PASSWORD|TOKEN|CREDS/.test(k))).toEqual([]);
  expect(JSON.stringify([container.command, container.args])).not.toMatch(CREDENTIAL_FLAGS);
  return { container, storageMount, authFile: env.REGISTRY_AUTH_FILE };
}

/** Example paths of a pod → sandbox paths: the PVC mount, the Secret's and the ConfigMap's. */
function podPaths(pod: PodSpec, container: Record<string, any>): (s: { storage: string; dir: string }) => [string, string][] {
  const mount = (kind: string) => container.volumeMounts.find((m: any) => m.name === pod.volumes.find((v: any) => v[kind]).name).mountPath as string;
  return ({ storage, dir }) => [
    [mount('persistentVolumeClaim'), storage],
    [mount('secret'), path.join(dir, 'conf')],
    [mount('configMap'), path.join(dir, 'conf')],
  ];
}

describe('examples/kubernetes/cronjob.yaml', () => {
  const load = async () => {
    const docs = await readManifests('kubernetes/cronjob.yaml');
    expect(docs.map((d) => `${d.apiVersion} ${d.kind}`)).toEqual(['batch/v1 CronJob']);
    return docs[0]!;
  };

  it('is a nightly CronJob, never two at once, on the registry PVC as uid 10000, credentials from a Secret', async () => {
    const cronJob = await load();
    expect(cronJob.spec.schedule.split(' ')).toHaveLength(5);
    cronJob.spec.schedule.split(' ').forEach((f: string, i: number) => expect(validCronField(f, CRON_RANGES[i]!)).toBe(true));
    expect(cronJob.spec.concurrencyPolicy).toBe('Forbid');
    const pod = cronJob.spec.jobTemplate.spec.template.spec;
    const { container, storageMount } = expectRescuePod(pod);
    expect(container.command).toEqual(['registry-rescue']);
    const args: string[] = container.args;
    expect(args.slice(0, 2)).toEqual(['sync', storageMount]);
    // Output and report on the same volume: hard links, and the report survives the pod.
    expect(args[args.indexOf('--report') + 1]).toMatch(new RegExp(`^${storageMount}/`));
    if (args.includes('--out')) expect(args[args.indexOf('--out') + 1]).toMatch(new RegExp(`^${storageMount}/`));
  });

  it('its command dry-runs on the fixture: exit 4, the report on the volume', async () => {
    const pod = (await load()).spec.jobTemplate.spec.template.spec;
    const { container, authFile } = expectRescuePod(pod);
    const box = await makeSandbox(podPaths(pod, container));
    const args = (container.args as string[]).map((a) => substitute(a, box));
    const r = await cli([...args, '--dry-run'], { env: { REGISTRY_AUTH_FILE: substitute(authFile, box) } });
    expect(r.exitCode, r.stderr).toBe(4);
    expect(r.stderr).toContain(`using credentials for ${CLOSED_TARGET} from`);
    const report = await expectDryRunReport(args[args.indexOf('--report') + 1]!, box);
    expect(report.out).toBe(path.join(box.storage, 'registry-rescue-export'));
  });
});

describe('examples/kubernetes/indexed-job.yaml', () => {
  const load = async () => {
    const docs = await readManifests('kubernetes/indexed-job.yaml');
    expect(docs.map((d) => `${d.apiVersion} ${d.kind}`)).toEqual(['batch/v1 Job']);
    return docs[0]!;
  };

  it('is an Indexed Job of N pods, each sync --shard (index+1)/N with its own out, report and metrics', async () => {
    const job = await load();
    expect(job.spec.completionMode).toBe('Indexed');
    const { container } = expectRescuePod(job.spec.template.spec);
    const n = Number(container.env.find((e: any) => e.name === 'SHARD_COUNT').value);
    expect(n).toBeGreaterThan(1);
    expect(job.spec.completions).toBe(n);
    expect(job.spec.parallelism).toBe(n);
    expect(container.command).toEqual(['sh', '-c']);
    expect(container.args).toHaveLength(1);
    const script: string = container.args[0];
    expect(script).toMatch(/^exec registry-rescue sync /);
    expect(script).toContain('--shard "$((JOB_COMPLETION_INDEX + 1))/$SHARD_COUNT"');
    for (const flag of ['--out', '--report', '--metrics-file']) {
      expect(script).toMatch(new RegExp(`${flag} "[^"]*\\$JOB_COMPLETION_INDEX[^"]*"`));
    }
  });

  it.skipIf(lacks.shard || lacks.metricsFile)('[needs --shard, --metrics-file] shards 1..N dry-run on the fixture: disjoint, their union is the whole run', async () => {
    const job = await load();
    const pod = job.spec.template.spec;
    const { container, authFile } = expectRescuePod(pod);
    const box = await makeSandbox(podPaths(pod, container));
    // The script with the sandbox's paths and target; sh does the index arithmetic, as in the pod.
    const script = (container.args[0] as string)
      .replace(/(?<=^|[\s"'])\/[^\s"'$]*/g, (p) => substitute(p, box))
      .replaceAll(EXAMPLE_TARGET, CLOSED_TARGET);
    const env = Object.fromEntries(container.env.map((e: any) => [e.name, substitute(e.value, box)]));
    const n = Number(env.SHARD_COUNT);
    const whole = await referenceDryRun(box);
    const seen = new Map<string, number>();
    for (let index = 0; index < n; index++) {
      const r = await execa('sh', ['-c', `${script} --dry-run`], {
        reject: false,
        env: { ...env, REGISTRY_AUTH_FILE: substitute(authFile, box), JOB_COMPLETION_INDEX: String(index), PATH: `${box.binDir}:${process.env.PATH}`, FORCE_COLOR: '0' },
      });
      const report = JSON.parse(await readFile(path.join(box.storage, `registry-rescue-report-shard-${index}.json`), 'utf8')) as DryRunReport;
      expect(report).toMatchObject({ command: 'sync', dryRun: true, out: path.join(box.storage, `registry-rescue-export-shard-${index}`) });
      const failing = report.images.length === 0 || report.images.some((i) => i.status === 'broken');
      expect(r.exitCode, `shard ${index + 1}/${n}: ${r.stderr}`).toBe(failing ? 4 : 0);
      for (const image of report.images) seen.set(image.id, (seen.get(image.id) ?? 0) + 1);
      await expectMetricsIfWritten(path.join(box.storage, `registry-rescue-shard-${index}.prom`), { shard: `${index + 1}/${n}` });
    }
    expect([...seen.values()].every((count) => count === 1), 'every image in exactly one shard').toBe(true);
    expect([...seen.keys()].sort()).toEqual(whole.images.map((i) => i.id).sort());
  });
});

describe('examples/kubernetes/indexed-job-s3.yaml', () => {
  const load = async () => {
    const docs = await readManifests('kubernetes/indexed-job-s3.yaml');
    expect(docs.map((d) => `${d.apiVersion} ${d.kind}`)).toEqual(['batch/v1 Job']);
    return docs[0]!;
  };

  it('is an Indexed Job over a bucket: no volume claim or affinity, bucket keys from a Secret, target auth file mounted', async () => {
    const job = await load();
    expect(job.spec.completionMode).toBe('Indexed');
    const pod = job.spec.template.spec;
    expect(pod.restartPolicy).toBe('Never');
    expect(pod.volumes.filter((v: any) => v.persistentVolumeClaim)).toEqual([]);
    expect(pod.affinity).toBeUndefined();
    const container = pod.containers[0];
    expect(container.image).toBe(IMAGE_PLACEHOLDER);
    const env = new Map<string, any>(container.env.map((e: any) => [e.name, e]));
    const n = Number(env.get('SHARD_COUNT').value);
    expect(n).toBeGreaterThan(1);
    expect([job.spec.completions, job.spec.parallelism]).toEqual([n, n]);
    // The keys come from a Secret: no literal value, and nowhere in the command.
    for (const name of ['AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY']) {
      expect(env.get(name).value).toBeUndefined();
      expect(env.get(name).valueFrom.secretKeyRef).toMatchObject({ name: 'registry-rescue-s3', key: name });
    }
    expect(JSON.stringify([container.command, container.args])).not.toMatch(/AWS_|--s3-(access|secret)|CREDS|PASSWORD/i);
    expect(JSON.stringify([container.command, container.args])).not.toMatch(CREDENTIAL_FLAGS);
    const script: string = container.args[0];
    expect(script).toMatch(/^exec registry-rescue sync s3:\/\/[^ ]+ /);
    expect(script).toContain('--shard "$((JOB_COMPLETION_INDEX + 1))/$SHARD_COUNT"');
    // Scratch for the downloaded layouts is the pod's own emptyDir.
    const out = /--out (\S+)/.exec(script)?.[1] as string;
    const scratch = container.volumeMounts.find((m: any) => out.startsWith(`${m.mountPath}/`));
    expect(pod.volumes.find((v: any) => v.name === scratch.name).emptyDir).toBeDefined();
    const secret = pod.volumes.find((v: any) => v.secret);
    expect(env.get('REGISTRY_AUTH_FILE').value).toBe(`${container.volumeMounts.find((m: any) => m.name === secret.name).mountPath}/auth.json`);
    // Every REGISTRY_RESCUE_* variable names a real option of sync.
    const settings = [...env.keys()].filter((k) => k.startsWith('REGISTRY_RESCUE_'));
    expect(settings.length).toBeGreaterThan(0);
    expect(unknownEnvOptions(settings.map((k) => `${k}=x`).join('\n'))).toEqual([]);
  });

  it('shards 1..N dry-run on a bucket holding the fixture: disjoint, their union is the whole run', async () => {
    const { startBucketServer } = await import('./helpers/s3.js');
    const s3 = await startBucketServer({ bucket: 'harbor-registry' });
    try {
      await s3.upload(FIXTURE_STORAGE_DIR, 'registry');
      s3.clearLog();
      const job = await load();
      const pod = job.spec.template.spec;
      const container = pod.containers[0];
      const dir = await makeTempDir('rr-example-s3-');
      const conf = path.join(dir, 'conf');
      const binDir = path.join(dir, 'bin');
      await mkdir(conf);
      await mkdir(binDir);
      await writeFile(path.join(conf, 'rescue.tags'), '**\n');
      await writeFile(path.join(conf, 'auth.json'), JSON.stringify({ auths: { [CLOSED_TARGET]: { auth: Buffer.from('rescue:not-a-real-password').toString('base64') } } }), { mode: 0o600 });
      await writeFile(path.join(binDir, 'registry-rescue'), `#!/bin/sh\nexec node ${JSON.stringify(BIN)} "$@"\n`);
      await chmod(path.join(binDir, 'registry-rescue'), 0o755);
      const mounts = new Map<string, string>(container.volumeMounts.map((m: any) => [m.mountPath, path.join(dir, m.name === 'auth' || m.name === 'tags' ? 'conf' : m.name)]));
      const swap = (p: string) => {
        for (const [from, to] of mounts) if (p === from || p.startsWith(`${from}/`)) return to + p.slice(from.length);
        return p;
      };
      const script = (container.args[0] as string).replace(/(?<=^|[\s"'])\/[^\s"'$]*/g, swap).replaceAll(EXAMPLE_TARGET, CLOSED_TARGET);
      // The pod's environment: the example's endpoint swapped for the test server, the Secret's keys for the test's.
      const env: Record<string, string | undefined> = { ...s3.env(), PATH: `${binDir}:${process.env.PATH}`, FORCE_COLOR: '0' };
      for (const e of container.env) if (e.value !== undefined) env[e.name] = swap(e.value);
      env.REGISTRY_RESCUE_S3_ENDPOINT = s3.endpoint;
      const whole = await cli(['sync', 's3://harbor-registry/registry', '--to', CLOSED_TARGET, '--s3-endpoint', s3.endpoint, '--s3-path-style', '--dry-run', '--json', '-q'], { env: s3.env() });
      const all = (JSON.parse(whole.stdout) as DryRunReport).images.map((i) => i.id).sort();
      expect(all).toEqual((await expectedTags()).map((t) => `${t.repository}:${t.tag}`).sort());
      const seen = new Map<string, number>();
      const n = Number(env.SHARD_COUNT);
      for (let index = 0; index < n; index++) {
        const r = await execa('sh', ['-c', `${script} --dry-run`], { reject: false, env: { ...env, JOB_COMPLETION_INDEX: String(index) } });
        expect(r.stderr, `shard ${index + 1}/${n}`).not.toMatch(/warning|error|NodeVersion/i);
        expect(r.stderr).not.toContain(s3.secretAccessKey);
        const report = JSON.parse(r.stdout) as DryRunReport;
        const failing = report.images.length === 0 || report.images.some((i) => i.status === 'broken');
        expect(r.exitCode, `shard ${index + 1}/${n}: ${r.stderr}`).toBe(failing ? 4 : 0);
        expect(report).toMatchObject({ command: 'sync', dryRun: true, target: CLOSED_TARGET });
        for (const image of report.images) seen.set(image.id, (seen.get(image.id) ?? 0) + 1);
      }
      expect([...seen.values()].every((count) => count === 1), 'every image in exactly one shard').toBe(true);
      expect([...seen.keys()].sort()).toEqual(all);
      expect(s3.requests.length).toBeGreaterThan(0);
      expect(s3.requests.filter((q) => q.method !== 'GET' && q.method !== 'HEAD')).toEqual([]);
    } finally {
      await s3.stop();
    }
  }, 300_000);
});
