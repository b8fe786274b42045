#!/usr/bin/env node
// npm run bench [-- --tags N] [--runs R] [--json FILE] [--dir PATH] [--no-shell] [--no-verify] [--sync [--rtt MS]]
//
// Speed and memory of registry-rescue on a realistic storage tree (scripts/bench/generate-storage.mjs: unique
// blobs per tag, nested repositories, moved tags, indexes), side by side with two baselines measured in the
// same run on the same tree: a minimal C export (scripts/bench/floor.c, the lower bound every ratio refers
// to) and the seed's shell loop (scripts/bench/seed-export.sh, at 1k tags: it is slow). Programs alternate run
// by run (A B C A B C …) so a noisy neighbour hits them alike; medians are reported. Figures are printed and
// written as JSON, never asserted: the targets are checked and shown as met or not.
//
// The bench dir (--dir, default ../registry-rescue-bench beside the repository, else the OS temp dir) keeps
// only bench-results.json; trees and exports go into a temp dir inside it, removed at exit unless BENCH_KEEP=1.
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { accessSync, closeSync, constants, existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { generateStorage } from './bench/generate-storage.mjs';

const root = path.resolve(import.meta.dirname, '..');
const BIN = path.join(root, 'bin/registry-rescue.js');

// ---------------------------------------------------------------- options
const argv = process.argv.slice(2);
const has = (name) => argv.includes(name);
const value = (name, fallback) => {
  const i = argv.indexOf(name);
  if (i < 0) return fallback;
  if (i + 1 >= argv.length) usage(`${name} needs a value`);
  return argv[i + 1];
};
function usage(msg) {
  console.error(`bench: ${msg}\nusage: npm run bench -- [--tags N] [--runs R] [--json FILE] [--dir PATH] [--seed S] [--no-shell] [--no-verify] [--sync [--rtt MS]]`);
  process.exit(2);
}
const TAGS = Number(value('--tags', '10000'));
const RUNS = Number(value('--runs', '3'));
const SEED = Number(value('--seed', '1'));
const SHELL_TAGS = 1000;
const SHELL_RUNS = 1; // ~70 s per run on 2 cores: once is enough to see the order of magnitude
const SYNC_IMAGES = 200;
// --rtt: the --sync targets answer through a loopback proxy that delays every packet by half of it each way, as a
// registry across a network would (a DR target is another site). 0: the registry itself, on these same cores.
const RTT_MS = Number(value('--rtt', '0'));
if (!Number.isInteger(TAGS) || TAGS < 1 || TAGS > 1_000_000) usage('--tags must be an integer between 1 and 1000000');
if (!Number.isInteger(RUNS) || RUNS < 1) usage('--runs must be a positive integer');
if (!Number.isFinite(RTT_MS) || RTT_MS < 0 || RTT_MS > 1000) usage('--rtt must be a number of milliseconds between 0 and 1000');

function defaultBenchDir() {
  const beside = path.resolve(root, '..');
  try {
    accessSync(beside, constants.W_OK);
    return path.join(beside, 'registry-rescue-bench');
  } catch {
    return path.join(os.tmpdir(), 'registry-rescue-bench');
  }
}
const benchDir = path.resolve(value('--dir', defaultBenchDir()));
mkdirSync(benchDir, { recursive: true });
const jsonFile = path.resolve(value('--json', path.join(benchDir, 'bench-results.json')));

// ---------------------------------------------------------------- cleanup
const work = mkdtempSync(path.join(benchDir, 'run-'));
const children = new Set(); // pids of registries we started
function cleanup() {
  for (const pid of children) {
    try {
      process.kill(pid, 'SIGTERM');
    } catch {
      // already gone
    }
  }
  if (process.env.BENCH_KEEP) console.log(`BENCH_KEEP: kept ${work}`);
  else rmSync(work, { recursive: true, force: true });
}
process.on('exit', cleanup);
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) process.on(sig, () => process.exit(130));

// ---------------------------------------------------------------- machine and filesystem
const sh = (cmd, args) => {
  const r = spawnSync(cmd, args, { encoding: 'utf8' });
  return r.status === 0 ? r.stdout.trim() : undefined;
};

/** Type, device and journal of the filesystem holding `dir`; every step is best effort. */
function describeFilesystem(dir) {
  const type = sh('stat', ['-f', '-c', '%T', dir]) ?? 'unknown';
  const fs = { type, device: undefined, mountType: undefined, journal: 'unknown', options: undefined };
  // Longest mount point containing dir (mountinfo: … mountpoint … - fstype source options).
  let best = '';
  for (const line of readFileSync('/proc/self/mountinfo', 'utf8').split('\n')) {
    const [pre, post] = line.split(' - ');
    if (!post) continue;
    const mountPoint = pre.split(' ')[4];
    const inside = mountPoint === '/' || dir === mountPoint || dir.startsWith(`${mountPoint}/`);
    if (inside && mountPoint.length >= best.length) {
      best = mountPoint;
      const [fstype, source] = post.split(' ');
      fs.mountType = fstype;
      fs.device = source;
    }
  }
  if (fs.mountType === 'ext4' && fs.device) {
    const dev = path.basename(fs.device);
    try {
      const opts = readFileSync(`/proc/fs/ext4/${dev}/options`, 'utf8').split('\n').filter(Boolean);
      fs.options = opts.join(',');
      const data = opts.find((o) => o.startsWith('data=')) ?? 'data=ordered';
      // jbd2 lists one entry per mounted journal ("vda-8"); none means the ext4 runs without one.
      const jbd2 = existsSync('/proc/fs/jbd2') ? readdirSync('/proc/fs/jbd2').filter((e) => e.startsWith(`${dev}-`)) : [];
      const dumpe2fs = sh('dumpe2fs', ['-h', fs.device]);
      if (dumpe2fs) fs.journal = /has_journal/.test(dumpe2fs) ? `yes (${data})` : 'NO (dumpe2fs: no has_journal)';
      else fs.journal = jbd2.length ? `yes (${data}, /proc/fs/jbd2/${jbd2[0]})` : `NO (no /proc/fs/jbd2/${dev}-* entry)`;
    } catch {
      // no /proc/fs/ext4 entry: leave unknown
    }
  } else if (['xfs', 'btrfs', 'zfs'].includes(fs.mountType ?? '')) fs.journal = 'yes (log/COW by design)';
  else if (['tmpfs', 'overlay'].includes(fs.mountType ?? '')) fs.journal = `NO (${fs.mountType})`;
  return fs;
}

const machine = {
  nproc: os.availableParallelism(),
  cpu: os.cpus()[0]?.model ?? 'unknown',
  memoryGB: Math.round(os.totalmem() / 2 ** 30),
  node: process.version,
  kernel: `${os.type()} ${os.release()}`,
  registryRescue: JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8')).version,
  skopeo: sh('skopeo', ['--version']) ?? 'not installed',
};
const filesystem = describeFilesystem(work);
console.log(`machine: ${machine.nproc} CPUs (${machine.cpu}), ${machine.memoryGB} GB, node ${machine.node}, ${machine.kernel}`);
console.log(`filesystem of ${benchDir}: ${filesystem.type} (${filesystem.mountType ?? '?'} on ${filesystem.device ?? '?'}), journal: ${filesystem.journal}`);
if (/^NO/.test(filesystem.journal)) console.log('  warning: no journal; metadata-heavy steps (mkdir, link) run faster than on a journaled production volume. Use --dir on one.');

// ---------------------------------------------------------------- measuring
const TIME = ['/usr/bin/time', '/bin/time'].find((p) => existsSync(p));
const canDropCaches = (() => {
  try {
    accessSync('/proc/sys/vm/drop_caches', constants.W_OK);
    return process.getuid?.() === 0;
  } catch {
    return false;
  }
})();
if (!TIME) console.log('note: /usr/bin/time not installed (apt-get install -y time): peak RSS only for registry-rescue, via scripts/bench-rss.mjs');

/**
 * The block device holding `dir` as /proc/diskstats numbers it (major, minor), or undefined (not Linux, not a block
 * device: tmpfs, overlay). For a loop-mounted image it is the loop device: the reads the filesystem itself asked for.
 */
function diskOf(dir) {
  try {
    const dev = statSync(dir, { bigint: true }).dev;
    const major = Number(((dev >> 8n) & 0xfffn) | ((dev >> 32n) & ~0xfffn));
    const minor = Number((dev & 0xffn) | ((dev >> 12n) & ~0xffn));
    return diskReads({ major, minor }) === undefined ? undefined : { major, minor };
  } catch {
    return undefined;
  }
}
/** Read requests the device has completed so far, and the bytes they read; undefined when it is not listed. */
function diskReads(disk) {
  for (const line of readFileSync('/proc/diskstats', 'utf8').split('\n')) {
    const f = line.trim().split(/\s+/);
    if (Number(f[0]) === disk.major && Number(f[1]) === disk.minor) return { reads: Number(f[3]), bytes: Number(f[5]) * 512 };
  }
  return undefined;
}
const benchDisk = canDropCaches ? diskOf(work) : undefined;

function dropCaches() {
  execFileSync('sync');
  writeFileSync('/proc/sys/vm/drop_caches', '3\n');
}

/**
 * Runs one program with stdout to /dev/null; returns seconds and peak RSS (MB). Exit 0 (or 4: the tree has
 * broken tags) is required; anything else stops the bench with the program's stderr.
 */
function measure(label, cmd, args, { okCodes = [0, 4], countReads = false } = {}) {
  const rssFile = path.join(work, 'rss');
  const isOurs = cmd === BIN;
  const full = TIME ? [TIME, '-f', '%M', '-o', rssFile, cmd, ...args] : [cmd, ...args];
  // Without /usr/bin/time, our own process reports its peak (bench-rss.mjs, loaded through NODE_OPTIONS).
  const env = !TIME && isOurs ? { ...process.env, NODE_OPTIONS: `${process.env.NODE_OPTIONS ?? ''} --import=${path.join(root, 'scripts/bench-rss.mjs')}` } : process.env;
  const cpu0 = childrenCpuSeconds();
  // Cold steps: the disk's read requests, which is what a cold run waits for.
  const reads0 = countReads && benchDisk ? diskReads(benchDisk) : undefined;
  const start = performance.now();
  const r = spawnSync(full[0], full.slice(1), { stdio: ['ignore', 'ignore', 'pipe'], encoding: 'utf8', maxBuffer: 1 << 28, env });
  const seconds = (performance.now() - start) / 1000;
  const cpu1 = childrenCpuSeconds();
  const reads1 = reads0 ? diskReads(benchDisk) : undefined;
  if (r.error) throw new Error(`${label}: ${r.error.message}`);
  if (!okCodes.includes(r.status ?? -1)) {
    throw new Error(`${label} failed with exit ${r.status ?? r.signal}: ${cmd} ${args.join(' ')}\n${(r.stderr ?? '').slice(-3000)}`);
  }
  let rssKb;
  if (TIME) rssKb = Number(readFileSync(rssFile, 'utf8').trim().split('\n').pop());
  else rssKb = Number(/BENCH_MAX_RSS_KB=(\d+)/.exec(r.stderr ?? '')?.[1] ?? NaN);
  return {
    seconds, rssMb: Number.isFinite(rssKb) ? rssKb / 1024 : undefined, ...(cpu0 !== undefined && cpu1 !== undefined ? { cpuSeconds: cpu1 - cpu0 } : {}),
    ...(reads0 && reads1 ? { diskReads: reads1.reads - reads0.reads, diskReadBytes: reads1.bytes - reads0.bytes } : {}), exitCode: r.status,
  };
}

/** CPU seconds (user + system) of the process's /proc stat fields from `first` (utime) or 13 (cutime: reaped children). */
function procCpuSeconds(pid, first) {
  try {
    return readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ').slice(first, first + 2).reduce((a, b) => a + Number(b), 0) / CLOCK_TICKS;
  } catch {
    return undefined;
  }
}
/** /proc's clock ticks per second (USER_HZ: 100 on every Linux build this runs on). */
const CLOCK_TICKS = 100;
/**
 * CPU seconds used so far by this process's reaped children and their reaped descendants (cutime + cstime): a step's
 * whole process tree (registry-rescue and every skopeo it waited for), undefined off Linux.
 */
const childrenCpuSeconds = () => procCpuSeconds('self', 13);

// Run as users run it (installed, npx, cron): the executable itself, so its #! line's Node flags apply.
const rr = (...args) => [BIN, args];
const rmrf = (p) => rmSync(p, { recursive: true, force: true });

function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}
function summarize(step) {
  const secs = step.runs.map((r) => r.seconds);
  const rss = step.runs.map((r) => r.rssMb).filter((x) => x !== undefined);
  const cpu = step.runs.map((r) => r.cpuSeconds).filter((x) => x !== undefined);
  const targetCpu = step.runs.map((r) => r.targetCpuSeconds).filter((x) => Number.isFinite(x));
  const reads = step.runs.map((r) => r.diskReads).filter((x) => x !== undefined);
  return {
    ...step,
    medianSeconds: median(secs),
    ...(cpu.length ? { medianCpuSeconds: median(cpu) } : {}),
    ...(targetCpu.length ? { medianTargetCpuSeconds: median(targetCpu) } : {}),
    ...(reads.length ? { medianDiskReads: median(reads) } : {}),
    minSeconds: Math.min(...secs),
    maxSeconds: Math.max(...secs),
    tagsPerSecond: step.tags / median(secs),
    peakRssMb: rss.length ? Math.max(...rss) : undefined,
  };
}

// ---------------------------------------------------------------- registry (for verify and --sync)
/** The registry as the --sync steps reach it: itself, or through delayProxy when --rtt is given. */
async function syncTarget(name, serve) {
  const reg = await startRegistry(name, serve);
  if (RTT_MS === 0) return reg;
  const proxy = await helperProcess('delay-proxy.mjs', [reg.host, String(RTT_MS)]);
  const stop = async () => {
    proxy.stop();
    await reg.stop();
  };
  return { ...reg, host: proxy.host, stop };
}

/**
 * One of scripts/bench/*.mjs that serves on 127.0.0.1 and prints its host:port (delay-proxy.mjs, head-stub.mjs), in
 * a process of its own: this one blocks in spawnSync while a step runs.
 */
async function helperProcess(script, args) {
  const child = spawn(process.execPath, [path.join(root, 'scripts/bench', script), ...args], { stdio: ['ignore', 'pipe', 'inherit'] });
  children.add(child.pid);
  const host = await new Promise((resolve, reject) => {
    child.stdout.once('data', (d) => resolve(String(d).trim()));
    child.once('exit', (code) => reject(new Error(`${script} exited with ${code}`)));
  });
  return {
    host,
    stop() {
      child.kill('SIGTERM');
      children.delete(child.pid);
    },
  };
}

async function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}
const get = (url) =>
  new Promise((resolve) => {
    const req = http.get(url, { timeout: 2000 }, (res) => {
      res.resume();
      resolve(res.statusCode);
    });
    req.on('error', () => resolve(0));
    req.on('timeout', () => req.destroy());
  });

/**
 * docker-registry on 127.0.0.1:<free port> with empty temp storage (as test/helpers/registry.ts does), or
 * serving an existing tree read-only (`serve`: a target that already holds every image).
 */
async function startRegistry(name, serve) {
  const dir = path.join(work, `registry-${name}`);
  mkdirSync(path.join(dir, 'storage'), { recursive: true });
  const port = await freePort();
  const readonly = serve ? ', readonly: { enabled: true }' : '';
  writeFileSync(
    path.join(dir, 'config.yml'),
    [
      'version: 0.1',
      // As Harbor runs its registry: no access log (it would measure the target's logging), blob descriptors
      // cached (Harbor keeps them in redis: `cache: layerinfo: redis`). Each saves ~15% of its CPU per manifest HEAD.
      'log: { level: error, formatter: text, accesslog: { disabled: true } }',
      `storage: { filesystem: { rootdirectory: ${JSON.stringify(serve ?? path.join(dir, 'storage'))} }, cache: { blobdescriptor: inmemory }, delete: { enabled: true }, maintenance: { uploadpurging: { enabled: false }${readonly} } }`,
      `http: { addr: "127.0.0.1:${port}", secret: bench-secret }`,
      '',
    ].join('\n'),
  );
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('REGISTRY_')));
  const log = openSync(path.join(dir, 'registry.log'), 'w');
  const child = spawn('docker-registry', ['serve', path.join(dir, 'config.yml')], { stdio: ['ignore', log, log], env });
  closeSync(log);
  children.add(child.pid);
  let exited = false;
  const gone = new Promise((resolve) => child.once('exit', () => ((exited = true), resolve())));
  const deadline = Date.now() + 15_000;
  while (!exited && Date.now() < deadline) {
    const status = await get(`http://127.0.0.1:${port}/v2/`);
    if (status === 200) {
      return {
        host: `127.0.0.1:${port}`,
        /** CPU seconds the registry process has used so far (user + system). */
        cpuSeconds: () => procCpuSeconds(child.pid, 11) ?? NaN,
        async stop() {
          child.kill('SIGTERM');
          const t = setTimeout(() => child.kill('SIGKILL'), 5000);
          await gone;
          clearTimeout(t);
          children.delete(child.pid);
          rmrf(dir);
        },
      };
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  child.kill('SIGKILL');
  throw new Error(`docker-registry did not start on 127.0.0.1:${port}:\n${readFileSync(path.join(dir, 'registry.log'), 'utf8').slice(-2000)}`);
}
const haveRegistry = Boolean(sh('sh', ['-c', 'command -v docker-registry']));

// ---------------------------------------------------------------- the trees
const storage = path.join(work, 'storage');
console.log(`\ngenerating ${TAGS} tags (seed ${SEED}) in ${storage} …`);
const tree = generateStorage({ dir: storage, tags: TAGS, seed: SEED });
const du = sh('du', ['-sm', storage])?.split('\t')[0];
tree.diskMb = du ? Number(du) : undefined;
console.log(
  `  ${tree.tags} tags in ${tree.repositories} repositories, ${tree.blobs} blobs (${(tree.blobBytes / 2 ** 20).toFixed(0)} MB of data, ${tree.diskMb ?? '?'} MB on disk), ` +
    `${tree.indexes} indexes, ${tree.olderRevisions} moved tags, ${tree.stacks} base stacks; generated in ${tree.seconds.toFixed(1)} s`,
);

const tools = mkdtempSync(path.join(os.tmpdir(), 'rr-bench-tools-'));
process.on('exit', () => rmrf(tools));
const floorBin = path.join(tools, 'floor');
execFileSync('cc', ['-O2', '-o', floorBin, path.join(root, 'scripts/bench/floor.c')], { stdio: 'inherit' });

const out = (name) => path.join(work, `out-${name}`);
const v2 = path.join(storage, 'docker/registry/v2');

/** The steps, in the order they alternate. `before` runs outside the timing. */
const steps = [
  { id: 'list', label: 'list --json', cmd: rr('list', storage, '--json', '-q') },
  { id: 'dry-run', label: 'export --dry-run --json', cmd: rr('export', storage, '--out', out('dry'), '--dry-run', '--json', '-q') },
  { id: 'export', label: 'export (from empty)', before: () => rmrf(out('export')), cmd: rr('export', storage, '--out', out('export'), '-q') },
  { id: 'unchanged', label: 'export again, nothing changed', cmd: rr('export', storage, '--out', out('unchanged'), '-q') },
  { id: 'sync-dry-run', label: 'sync --dry-run', cmd: rr('sync', storage, '--to', '127.0.0.1:1', '--dest-tls-verify=false', '--dry-run', '--out', out('sync'), '-q') },
  { id: 'floor', label: 'floor: C export (from empty)', before: () => rmrf(out('floor')), cmd: [floorBin, [v2, out('floor')]] },
];

let verifyRegistry;
if (!has('--no-verify') && haveRegistry) {
  verifyRegistry = await startRegistry('verify');
  steps.splice(5, 0, {
    id: 'verify',
    label: 'verify (empty target)',
    cmd: rr('verify', storage, '--to', verifyRegistry.host, '--dest-tls-verify=false', '--json', '-q'),
  });
}
if (canDropCaches) {
  steps.push(
    { id: 'export-cold', label: 'export (from empty), cold cache', cold: true, before: () => rmrf(out('export')), cmd: rr('export', storage, '--out', out('export'), '-q') },
    { id: 'floor-cold', label: 'floor: C export, cold cache', cold: true, before: () => rmrf(out('floor')), cmd: [floorBin, [v2, out('floor')]] },
  );
}
for (const s of steps) Object.assign(s, { tags: TAGS, runs: [] });

// "export again" needs a finished export to compare with: one untimed export first.
measure('setup export', ...rr('export', storage, '--out', out('unchanged'), '-q'));
console.log(`\nmeasuring ${steps.length} steps × ${RUNS} runs, alternating …`);
let cacheDropped = false;
for (let run = 1; run <= RUNS; run++) {
  for (const s of steps) {
    s.before?.();
    if (s.cold) dropCaches();
    else {
      // A warm step right after a cold one (the next run's first step) would read a tree the drop evicted:
      // one untimed walk brings it back into the page cache first.
      if (cacheDropped) measure('warm-up', ...rr('list', storage, '-q'));
      execFileSync('sync'); // flush the previous step's dirty pages outside the timing
    }
    cacheDropped = s.cold === true;
    const r = measure(s.label, ...s.cmd, { countReads: s.cold === true });
    s.runs.push(r);
    process.stdout.write(`  run ${run}: ${s.label.padEnd(34)} ${r.seconds.toFixed(2).padStart(7)} s${r.rssMb ? `  ${r.rssMb.toFixed(0)} MB` : ''}\n`);
  }
}
await verifyRegistry?.stop();

// The seed's shell loop, on its own 1k tree (generation and export outside the main rotation: it is slow).
if (!has('--no-shell')) {
  const small = path.join(work, 'storage-1k');
  generateStorage({ dir: small, tags: SHELL_TAGS, seed: SEED + 1 });
  const shellStep = { id: 'shell', label: `seed shell loop (${SHELL_TAGS} tags)`, tags: SHELL_TAGS, runs: [] };
  const floorSmall = { id: 'floor-1k', label: `floor: C export (${SHELL_TAGS} tags)`, tags: SHELL_TAGS, runs: [] };
  for (let run = 1; run <= SHELL_RUNS; run++) {
    rmrf(out('shell'));
    execFileSync('sync');
    shellStep.runs.push(measure(shellStep.label, 'sh', [path.join(root, 'scripts/bench/seed-export.sh'), small, out('shell')], { okCodes: [0] }));
    rmrf(out('floor-1k'));
    execFileSync('sync');
    floorSmall.runs.push(measure(floorSmall.label, floorBin, [path.join(small, 'docker/registry/v2'), out('floor-1k')]));
    console.log(`  shell run ${run}: ${shellStep.runs.at(-1).seconds.toFixed(1)} s (floor on the same 1k tree: ${floorSmall.runs.at(-1).seconds.toFixed(2)} s)`);
  }
  steps.push(shellStep, floorSmall);
}

// ---------------------------------------------------------------- --sync: pushes into a local registry
let syncResults;
if (has('--sync')) {
  if (!haveRegistry) throw new Error('--sync needs docker-registry (apt-get install -y docker-registry)');
  const small = path.join(work, 'storage-sync');
  generateStorage({ dir: small, tags: SYNC_IMAGES, seed: SEED + 2 });
  const syncStep = (id, label) => ({ id, label, tags: SYNC_IMAGES, runs: [] });
  const c4 = syncStep('sync-c4', `sync --concurrency 4 (${SYNC_IMAGES} images, fresh target)`);
  const c1 = syncStep('sync-c1', `sync --concurrency 1 (${SYNC_IMAGES} images, fresh target)`);
  const again = syncStep('sync-again', `sync again, all on target (${SYNC_IMAGES})`);
  const through = RTT_MS > 0 ? `, through a proxy adding ${RTT_MS} ms per round trip` : '';
  console.log(`\nsync: ${SYNC_IMAGES} images into a local docker-registry${through}, ${RUNS} runs …`);
  const syncArgs = (host, o, n) => rr('sync', small, '--to', host, '--dest-tls-verify=false', '--out', o, '--concurrency', String(n), '-q');
  for (let run = 1; run <= RUNS; run++) {
    for (const [step, n] of [[c4, 4], [c1, 1]]) {
      const reg = await syncTarget(`sync-${n}`);
      rmrf(out(`sync-${n}`));
      step.runs.push(withTargetCpu(reg, () => measure(step.label, ...syncArgs(reg.host, out(`sync-${n}`), n), { okCodes: [0] })));
      if (n === 4) again.runs.push(measure(again.label, ...syncArgs(reg.host, out(`sync-${n}`), 4), { okCodes: [0] }));
      await reg.stop();
    }
    console.log(`  run ${run}: c4 ${c4.runs.at(-1).seconds.toFixed(1)} s, c1 ${c1.runs.at(-1).seconds.toFixed(1)} s, again ${again.runs.at(-1).seconds.toFixed(2)} s`);
  }
  syncResults = [c4, c1, again].map(summarize);

  // Everything on the target, at scale: a read-only docker-registry serving the big tree itself is a target
  // that already holds every tag. The ceiling is the same registry answering a bare keep-alive HEAD loop at
  // the same concurrency (CHECK_CONCURRENCY in src/run-sync.ts) from this process: no run can check faster
  // than its target answers, and on a 2-core machine the registry and registry-rescue share the CPU.
  // As many HEADs in flight as registry-rescue keeps (one per connection), read from the build the steps run.
  const { CHECK_CONCURRENCY } = await import(pathToFileURL(path.join(root, 'dist/run-sync.js')).href);
  const served = await syncTarget('served', storage);
  const atScale = syncStep('sync-all-there', `sync, all ${TAGS} tags already on target`);
  atScale.tags = TAGS;
  const ceiling = { id: 'head-ceiling', label: `bare HEAD loop, ${TAGS} tags (ceiling)`, tags: TAGS, runs: [] };
  const tagList = readFileSync(tree.tagsFile, 'utf8').trim().split('\n');
  for (let run = 1; run <= RUNS; run++) {
    atScale.runs.push(withTargetCpu(served, () => measure(atScale.label, ...rr('sync', storage, '--to', served.host, '--dest-tls-verify=false', '--out', out('unchanged'), '-q'), { okCodes: [0] })));
    const cpu0 = served.cpuSeconds();
    const started = performance.now();
    await headLoop(served.host, tagList, CHECK_CONCURRENCY);
    ceiling.runs.push({ seconds: (performance.now() - started) / 1000, targetCpuSeconds: served.cpuSeconds() - cpu0 });
    console.log(`  run ${run}: sync ${atScale.runs.at(-1).seconds.toFixed(1)} s, bare HEAD loop ${ceiling.runs.at(-1).seconds.toFixed(1)} s (registry: ${((ceiling.runs.at(-1).targetCpuSeconds * 1000) / TAGS).toFixed(2)} ms CPU per HEAD)`);
  }
  await served.stop();
  // The same run against a stand-in that answers every HEAD from memory (scripts/bench/head-stub.mjs): what
  // registry-rescue's own check gets through when the target costs nothing, as a target on its own machine nearly does.
  const stub = await helperProcess('head-stub.mjs', [storage, tree.tagsFile]);
  const onStub = syncStep('sync-all-there-stub', `sync, all ${TAGS} tags on a stand-in answering HEADs from memory`);
  onStub.tags = TAGS;
  for (let run = 1; run <= RUNS; run++) {
    onStub.runs.push(measure(onStub.label, ...rr('sync', storage, '--to', stub.host, '--dest-tls-verify=false', '--out', out('unchanged'), '-q'), { okCodes: [0] }));
    console.log(`  run ${run}: sync against the stand-in ${onStub.runs.at(-1).seconds.toFixed(1)} s`);
  }
  stub.stop();
  const ceilingSummary = summarize(ceiling);
  syncResults.push(summarize(atScale), { ...ceilingSummary, registryCpuMsPerHead: (ceilingSummary.medianTargetCpuSeconds * 1000) / TAGS }, summarize(onStub));
}

/** A measured run, with the CPU seconds the target registry used during it (`targetCpuSeconds`). */
function withTargetCpu(registry, run) {
  const before = registry.cpuSeconds();
  const r = run();
  return { ...r, targetCpuSeconds: registry.cpuSeconds() - before };
}

/**
 * What the machine's cores allow a sync step, from its CPU seconds (registry-rescue, every skopeo it started, and
 * the target registry; a --rtt proxy's own are left out): its CPU milliseconds per unit (image or tag), how many
 * cores it kept busy, and `limit` = cores / CPU seconds per unit, the most units per second any concurrency could reach
 * here if the work per unit stayed the same.
 */
function cpuBound(step, units) {
  if (step.medianCpuSeconds === undefined || step.medianTargetCpuSeconds === undefined) return undefined;
  const cpu = step.medianCpuSeconds + step.medianTargetCpuSeconds;
  return { msPerUnit: (cpu * 1000) / units, busy: cpu / step.medianSeconds, limit: CORES / (cpu / units) };
}
const CORES = os.availableParallelism();

/** HEADs every tag's manifest on keep-alive connections, `n` at once: how fast the target can answer. */
async function headLoop(host, tags, n) {
  const agent = new http.Agent({ keepAlive: true, maxSockets: n });
  const accept = 'application/vnd.oci.image.manifest.v1+json, application/vnd.oci.image.index.v1+json, application/vnd.docker.distribution.manifest.v2+json, application/vnd.docker.distribution.manifest.list.v2+json';
  const [hostname, port] = host.split(':');
  const head = (line) =>
    new Promise((resolve, reject) => {
      const at = line.lastIndexOf(':');
      const req = http.request({ host: hostname, port, method: 'HEAD', path: `/v2/${line.slice(0, at)}/manifests/${line.slice(at + 1)}`, agent, headers: { accept } }, (res) => {
        res.resume();
        res.on('end', () => (res.statusCode === 200 ? resolve() : reject(new Error(`HEAD ${line}: ${res.statusCode}`))));
      });
      req.on('error', reject);
      req.end();
    });
  let next = 0;
  await Promise.all(Array.from({ length: n }, async () => {
    while (next < tags.length) await head(tags[next++]);
  }));
  agent.destroy();
}

// ---------------------------------------------------------------- report
const results = steps.map(summarize);
const byId = Object.fromEntries(results.map((r) => [r.id, r]));
const floorFor = (r) => (r.id.endsWith('-cold') ? byId['floor-cold'] : r.tags === SHELL_TAGS && TAGS !== SHELL_TAGS ? byId['floor-1k'] : byId.floor);
for (const r of results) r.ratioToFloor = r.medianSeconds / floorFor(r).medianSeconds;

const fmt = (x, d = 2) => (x === undefined ? '-' : x.toFixed(d));
function table(rows, { ratio = true, cpu = false } = {}) {
  const head = ['step', 'runs', 'median s', 'min-max s', 'tags/s', ...(ratio ? ['x floor'] : []), ...(cpu ? ['CPU s', 'target CPU s'] : []), 'peak RSS MB'];
  const body = rows.map((r) => [
    r.label,
    String(r.runs.length),
    fmt(r.medianSeconds),
    `${fmt(r.minSeconds)}-${fmt(r.maxSeconds)}`,
    Math.round(r.tagsPerSecond).toLocaleString('en-US'),
    ...(ratio ? [fmt(r.ratioToFloor, 1)] : []),
    ...(cpu ? [fmt(r.medianCpuSeconds, 1), fmt(r.medianTargetCpuSeconds, 1)] : []),
    fmt(r.peakRssMb, 0),
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((b) => b[i].length)));
  const line = (cells) => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  ');
  return [line(head), widths.map((w) => '-'.repeat(w)).join('  '), ...body.map(line)].join('\n');
}
console.log(`\nresults: ${TAGS} tags, medians of ${RUNS} runs; "x floor" = median / the C floor's median on the same tree (cold rows: / the cold floor)`);
console.log(table(results));

const rrSteps = results.filter((r) => !['floor', 'floor-cold', 'floor-1k', 'shell'].includes(r.id));
const maxRss = Math.max(...rrSteps.map((r) => r.peakRssMb ?? 0));
const targets = [
  { target: 'export (from empty) <= 2x floor', value: `${fmt(byId.export.ratioToFloor, 1)}x`, met: byId.export.ratioToFloor <= 2 },
  { target: 'export again, nothing changed <= 1x floor', value: `${fmt(byId.unchanged.ratioToFloor, 1)}x`, met: byId.unchanged.ratioToFloor <= 1 },
  { target: 'list faster than export', value: `${fmt(byId.list.medianSeconds)} s vs ${fmt(byId.export.medianSeconds)} s`, met: byId.list.medianSeconds < byId.export.medianSeconds },
  { target: 'export --dry-run faster than export', value: `${fmt(byId['dry-run'].medianSeconds)} s vs ${fmt(byId.export.medianSeconds)} s`, met: byId['dry-run'].medianSeconds < byId.export.medianSeconds },
  { target: 'peak RSS of every registry-rescue step <= 150 MB', value: `${fmt(maxRss, 0)} MB`, met: maxRss <= 150 },
];
if (byId['export-cold']) {
  const [cold, floorCold] = [byId['export-cold'], byId['floor-cold']];
  // A cold run waits for the disk: its read requests, beside the floor's, tell how much more it asked for.
  const reads = cold.medianDiskReads !== undefined && floorCold.medianDiskReads !== undefined
    ? `; read requests to the disk: ${Math.round(cold.medianDiskReads).toLocaleString('en-US')} against the floor's ${Math.round(floorCold.medianDiskReads).toLocaleString('en-US')} (${fmt(cold.medianDiskReads / floorCold.medianDiskReads, 2)}x; the checks also read each tag's revision link, a directory and a file, which the floor never reads)`
    : '';
  targets.push({ target: 'export (from empty), cold <= 1x the cold floor', value: `${fmt(cold.ratioToFloor, 1)}x${reads}`, met: cold.ratioToFloor <= 1 });
}
if (syncResults) {
  const [c4, c1, again, atScale, ceiling, onStub] = syncResults;
  const via = RTT_MS > 0 ? `, reached through a proxy adding ${RTT_MS} ms per round trip` : '';
  console.log(`\nsync into a local docker-registry${via} (${SYNC_IMAGES} images of 8 layers; the last three rows: the ${TAGS}-tag tree, served read-only as the target, then a stand-in holding it), medians of ${RUNS} runs`);
  console.log(table(syncResults, { ratio: false, cpu: true }));
  console.log(`  CPU s: registry-rescue and every skopeo it started (user + system); target CPU s: the target registry's, during the step`);
  targets.push(
    { target: 'sync with everything already on the target >= 1000 tags/s', value: `${Math.round(atScale.tagsPerSecond)} tags/s over ${TAGS} tags (${Math.round(again.tagsPerSecond)} over ${SYNC_IMAGES}, start-up included); the target itself answers a bare HEAD loop at ${Math.round(ceiling.tagsPerSecond)}/s, ${fmt(ceiling.registryCpuMsPerHead)} ms of its CPU each; against a stand-in answering from memory ${Math.round(onStub.tagsPerSecond)} tags/s${cpuNote(cpuBound(atScale, TAGS), 'tag', (b) => `at most ${Math.round(b.limit)} tags/s`)}`, met: atScale.tagsPerSecond >= 1000 },
    { target: 'sync --concurrency 4 >= 2.5x faster than --concurrency 1', value: `${fmt(c1.medianSeconds / c4.medianSeconds, 1)}x${cpuNote(cpuBound(c1, SYNC_IMAGES), 'image', (b) => `--concurrency 1 already keeps ${fmt(b.busy)} of them busy, so no concurrency can be more than ${fmt(CORES / b.busy, 1)}x faster`)}`, met: c1.medianSeconds / c4.medianSeconds >= 2.5 },
  );
}
/** `; CPU: … ms per <unit> (registry-rescue with skopeo, and the target) on N cores: <what that allows>`, or nothing. */
function cpuNote(bound, unit, allows) {
  if (!bound) return '';
  return `; CPU: ${fmt(bound.msPerUnit, 1)} ms per ${unit} (registry-rescue${unit === 'image' ? ' with skopeo' : ''}, and the target registry) on ${CORES} cores: ${allows(bound)} here`;
}
console.log('\ntargets');
const tw = Math.max(...targets.map((t) => t.target.length));
for (const t of targets) console.log(`  ${t.met ? 'met    ' : 'NOT met'}  ${t.target.padEnd(tw)}  ${t.value}`);
if (!canDropCaches) console.log('  (no cold-cache rows: needs root to write /proc/sys/vm/drop_caches)');

const report = { date: new Date().toISOString(), machine, filesystem, benchDir, tags: TAGS, runs: RUNS, seed: SEED, tree, steps: results, sync: syncResults, ...(syncResults ? { syncRttMs: RTT_MS } : {}), targets };
writeFileSync(jsonFile, `${JSON.stringify(report, null, 2)}\n`);
console.log(`\nJSON: ${jsonFile}`);
