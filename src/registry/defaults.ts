/**
 * The registry client's defaults, apart from the client itself: commands show them in --help without loading the
 * HTTP stack (node:https, tls), which only the commands that talk to a registry need.
 */

/** Entries asked per catalog/tags page (Distribution's default maximum is 1000). */
export const DEFAULT_PAGE_SIZE = 100;
export const DEFAULT_TIMEOUT_MS = 30_000;
