/**
 * Watches every descendant of a process through /proc while it runs: each distinct argv (a child shows its
 * parent's argv until it execs, so every one seen is kept), its environment, and for a process whose argv
 * names an auth file (`--authfile F`, `--dest-authfile F`) that file's mode, its directory's mode and owner,
 * taken at once, while the process still runs. What `ps`, cron mail and a curious neighbour could see.
 */
import { readFileSync, readdirSync, statSync } from 'node:fs';
import path from 'node:path';

export interface SeenProcess {
  pid: number;
  argv: string[];
  environ: string[];
  authFile?: { path: string; mode: string | null; dirMode: string | null; dirUid: number | null };
}

const read = (file: string): string | undefined => {
  try {
    return readFileSync(file, 'latin1');
  } catch {
    return undefined;
  }
};

function ppidOf(pid: number): number | undefined {
  const stat = read(`/proc/${pid}/stat`);
  // "pid (comm) state ppid …": comm may hold spaces and parentheses, so split after the last ')'.
  const after = stat?.slice(stat.lastIndexOf(')') + 2).split(' ');
  return after ? Number(after[1]) : undefined;
}

function authFileOf(argv: string[]): SeenProcess['authFile'] {
  const i = argv.findIndex((a) => /^--(?:dest-|src-)?authfile$/.test(a));
  const file = i >= 0 ? argv[i + 1] : argv.find((a) => /^--(?:dest-|src-)?authfile=/.test(a))?.split('=')[1];
  if (file === undefined) return undefined;
  const mode = (p: string) => {
    try {
      const s = statSync(p);
      return { mode: (s.mode & 0o777).toString(8), uid: s.uid };
    } catch {
      return undefined;
    }
  };
  const dir = mode(path.dirname(file));
  return { path: file, mode: mode(file)?.mode ?? null, dirMode: dir?.mode ?? null, dirUid: dir?.uid ?? null };
}

/** Starts polling (every `everyMs`); `stop()` returns every process seen, one entry per distinct argv. */
export function watchDescendants(rootPid: number, everyMs = 5): { stop(): SeenProcess[] } {
  const seen = new Map<string, SeenProcess>();
  const tick = () => {
    const parents = new Map<number, number>();
    for (const name of readdirSync('/proc')) {
      if (!/^\d+$/.test(name)) continue;
      const ppid = ppidOf(Number(name));
      if (ppid !== undefined) parents.set(Number(name), ppid);
    }
    for (const pid of parents.keys()) {
      let p: number | undefined = pid;
      while (p !== undefined && p > 1 && p !== rootPid) p = parents.get(p);
      if (p !== rootPid) continue;
      const cmdline = read(`/proc/${pid}/cmdline`);
      if (!cmdline) continue;
      const argv = cmdline.split('\0').filter((a, i, all) => a !== '' || i < all.length - 1);
      const key = `${pid} ${argv.join(' ')}`;
      if (seen.has(key)) continue;
      const environ = (read(`/proc/${pid}/environ`) ?? '').split('\0').filter(Boolean);
      const authFile = authFileOf(argv);
      seen.set(key, { pid, argv, environ, ...(authFile ? { authFile } : {}) });
    }
  };
  const timer = setInterval(tick, everyMs);
  return {
    stop: () => {
      clearInterval(timer);
      tick();
      return [...seen.values()];
    },
  };
}

/**
 * SIGKILLs every process whose command line mentions `marker` (a test's own temporary path): the fake skopeos a
 * SIGKILLed CLI leaves behind, including one it spawned just before the kill, which had not written its pid yet.
 * Waits a moment first, so a child between fork and exec shows its final command line. Returns how many.
 */
export async function killStrays(marker: string): Promise<number> {
  await new Promise((r) => setTimeout(r, 200));
  let killed = 0;
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name) || Number(name) === process.pid) continue;
    if (!(read(`/proc/${name}/cmdline`) ?? '').includes(marker)) continue;
    try {
      process.kill(Number(name), 'SIGKILL');
      killed++;
    } catch {
      // gone already
    }
  }
  return killed;
}
