// s3rver 3.7 ships no types; the parts the bucket tests use (lib/s3rver.js, lib/models/account.js).
declare module 's3rver' {
  import type { IncomingMessage, ServerResponse } from 'node:http';
  interface S3rverOptions {
    directory?: string;
    silent?: boolean;
    vhostBuckets?: boolean;
    configureBuckets?: Array<{ name: string; configs: Array<string | Buffer> }>;
  }
  export default class S3rver {
    constructor(options?: S3rverOptions);
    configureBuckets(): Promise<void>;
    callback(): (req: IncomingMessage, res: ServerResponse) => void;
  }
}
declare module 's3rver/lib/models/account.js' {
  const account: unknown;
  export default account;
}
declare module 's3rver/lib/models/object.js' {
  const S3Object: unknown;
  export default S3Object;
}
declare module 's3rver/lib/stores/filesystem.js' {
  const FilesystemStore: unknown;
  export default FilesystemStore;
}
declare module 's3rver/lib/utils.js' {
  export function walk(dir: string, filter?: (dir: string) => boolean): Iterable<string>;
}
