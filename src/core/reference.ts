/** Distribution's reference grammar (distribution/reference regexp.go): what a registry accepts as a name or tag. */

const COMPONENT_RE = /^[a-z0-9]+(?:(?:[._]|__|[-]+)[a-z0-9]+)*$/;
const TAG_RE = /^[\w][\w.-]{0,127}$/;
export const MAX_NAME_LENGTH = 255;

/** Why a repository name is not valid, or undefined when it is. */
export function repositoryNameProblem(name: string): string | undefined {
  if (name.length === 0) return 'the repository name is empty';
  if (name.length > MAX_NAME_LENGTH) return `the repository name is longer than ${MAX_NAME_LENGTH} characters`;
  const bad = name.split('/').find((component) => !COMPONENT_RE.test(component));
  if (bad !== undefined) {
    return `path component ${JSON.stringify(bad)} is not valid (lowercase letters, digits and single . _ __ or - separators)`;
  }
  return undefined;
}

/** Why a tag is not valid, or undefined when it is. */
export function tagProblem(tag: string): string | undefined {
  return TAG_RE.test(tag) ? undefined : 'a tag is 1-128 characters of letters, digits, _ . and -, not starting with . or -';
}
