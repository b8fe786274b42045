/** Paths of the output directory, shared by the layout writer and the reader of what the output holds. */
import path from 'node:path';

/** True when `dir` is strictly inside `root`. */
export function isBelow(root: string, dir: string): boolean {
  const rel = path.relative(root, dir);
  return rel !== '' && !rel.startsWith('..') && !path.isAbsolute(rel);
}
