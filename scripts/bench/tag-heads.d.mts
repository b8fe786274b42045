// Types for tag-heads.mjs, so the vitest tests (TypeScript, strict) can import it.
export function tagHeads(v2: string, tagsFile: string): Map<string, [digest: string, size: number]>;
