/// <reference types="node" />
import { Readable, Transform, Writable } from 'node:stream'

/** Every error this library raises: an `Error` with a stable `code` (see README, "Error codes"). */
export interface BackupError extends Error {
  code: string
  entryName?: string
  entryIndex?: number
  offset?: number
}

export interface StreamOptions {
  /** Aborting destroys the stream with an `E_ABORTED` error. */
  signal?: AbortSignal
}

export interface GzipOptions extends StreamOptions {
  /** Deflate level 0-9, default 6. */
  level?: number
}

/** bytes -> one standard gzip member (readable by zlib.gunzip, gzip -d, pigz -d). */
export function createGzip(options?: GzipOptions): Transform
/** gzip -> bytes: every member, CRC32 and ISIZE checked, zero padding accepted. */
export function createGunzip(options?: StreamOptions): Transform
/** bytes -> the .enc envelope: salt(16) || iv(16) || AES-256-CTR(gzip(bytes)). */
export function createEncryptStream(password: string, options?: GzipOptions): Transform
/** the .enc envelope -> bytes. A wrong password fails with `E_BAD_PASSWORD` before any output. */
export function createDecryptStream(password: string, options?: StreamOptions): Transform
/** The envelope of a whole buffer, computed off the JS thread. */
export function encrypt(data: Buffer | Uint8Array | string, password: string, options?: { level?: number }): Promise<Buffer>
/** The plaintext of a whole envelope, computed off the JS thread. */
export function decrypt(data: Buffer | Uint8Array, password: string): Promise<Buffer>

export type EntryType =
  | 'file'
  | 'link'
  | 'symlink'
  | 'character-device'
  | 'block-device'
  | 'directory'
  | 'fifo'
  | 'contiguous-file'
  | 'pax-header'
  | 'pax-global-header'
  | 'gnu-long-link-path'
  | 'gnu-long-path'
  | 'gnu-dumpdir'
  | 'gnu-sparse'

/** tar-stream's header shape. */
export interface Headers {
  name: string
  size: number
  mode: number
  uid: number
  gid: number
  mtime: Date
  type: EntryType | null
  linkname: string | null
  uname: string
  gname: string
  devmajor: number
  devminor: number
  pax: Record<string, string> | null
}

/** What `pack.entry()` takes; `size` may be left out for streamed entries (they are staged). */
export interface PackHeader {
  name: string
  size?: number
  mode?: number
  uid?: number
  gid?: number
  mtime?: Date
  type?: EntryType
  linkname?: string
  uname?: string
  gname?: string
  devmajor?: number
  devminor?: number
  pax?: Record<string, string>
}

export interface PackOptions extends StreamOptions {
  /** Fuse gzip into the same native pipeline: `true` for level 6, or `{ level }`. */
  gzip?: boolean | { level?: number }
  /** Bytes of an entry of unknown size kept in memory before it spills to a temp file. Default 4 MiB. */
  stagingMemory?: number
  /** Where spilled entries go (an anonymous file, removed on completion, error and abort). Default `os.tmpdir()`. */
  stagingDir?: string
}

/** For an entry given whole: called once it is accepted (or, past a 4 MiB backlog, written). */
export type EntryCallback = (err?: Error | null) => void

export declare class Pack extends Readable {
  entry(header: PackHeader, buffer?: Buffer | string, callback?: EntryCallback): Writable
  entry(header: PackHeader, callback?: EntryCallback): Writable
  finalize(): void
}

export interface Limits {
  /** One PAX or GNU long-name record, bytes. Default 1 MiB. */
  maxMetaBytes?: number
  /** Whole path, bytes. Default 4096. */
  maxPathBytes?: number
  /** One path component, bytes. Default 255. */
  maxComponentBytes?: number
  /** Path depth. Default 1024. */
  maxDepth?: number
  /** Entries. Default 1,000,000. */
  maxEntries?: number
  /** Decoded bytes of one entry. Default 64 GiB. */
  maxEntryBytes?: number
  /** Decoded bytes of all entries. Default 64 GiB. */
  maxTotalBytes?: number
}

export interface ExtractOptions extends StreamOptions {
  /** `'auto'` (default) detects gzip by its magic; `true` requires it; `false` reads plain tar. */
  gzip?: 'auto' | boolean
  /** `'permissive'` (default) reports entries as stored; `'strict'` applies the SAFETY.md name and type policy. */
  policy?: 'permissive' | 'strict'
  /** With `policy: 'strict'`, accept links whose target stays inside the archive. */
  allowLinks?: boolean
  /** With `policy: 'strict'`, reject names equal after Unicode (NFC) normalisation and case folding (`E_PATH_COLLISION`). */
  caseInsensitive?: boolean
  limits?: Limits
}

/** One entry's bytes. Chunks under 64 KiB are views of one Buffer per native step: keeping one keeps that Buffer. */
export interface Entry extends Readable {
  header: Headers
}

export declare class Extract extends Writable {
  on(event: 'entry', listener: (header: Headers, stream: Entry, next: (err?: Error) => void) => void): this
  on(event: string | symbol, listener: (...args: any[]) => void): this
  [Symbol.asyncIterator](): AsyncIterableIterator<Entry>
}

export function pack(options?: PackOptions): Pack
export function extract(options?: ExtractOptions): Extract

export interface AppFile {
  /** Object key without the app prefix, e.g. `attachments/<uuid>.jpg`; checked against the import policy. */
  name: string
  /** Known size streams straight through; without it the entry is staged. */
  size?: number
  mtime?: Date
  /** The bytes, or a factory opened only shortly before the entry is written. */
  stream: Readable | (() => Readable | Promise<Readable>)
}

export interface ExportProgress {
  entries: number
  bytesIn: number
  bytesOut: number
}

export interface AppExportOptions {
  /** The database dump (size unknown). */
  db: Readable | (() => Readable | Promise<Readable>)
  /** Object-store files, in the order to write them. */
  files?: Iterable<AppFile> | AsyncIterable<AppFile>
  /** With a password every entry not under `attachments/` becomes a `.enc` envelope (or the whole archive, see `encryption`). */
  password?: string
  /** Default `'per-file'`; `'archive'` wraps the whole tar.gz in one envelope. */
  encryption?: 'per-file' | 'archive'
  /** gzip level, default 6. */
  level?: number
  signal?: AbortSignal
  onProgress?: (progress: ExportProgress) => void
  stagingMemory?: number
  stagingDir?: string
}

export interface ImportProgress {
  files: number
  bytes: number
  dbBytes: number
}

export interface ImportSummary {
  format: 'tar.gz' | 'tar' | 'db' | 'encrypted-db' | 'encrypted-archive'
  encrypted: boolean
  files: number
  bytes: number
  dbBytes: number
}

export interface AppImportOptions {
  password?: string
  /** Receives the plaintext db.txt as a stream; settles when done with it. */
  onDb: (dump: Readable) => Promise<void> | void
  /**
   * Every other file, plaintext, `.enc` stripped from the name. `size` is undefined for large `.enc` entries; `mtime` is the entry's.
   * Settles (or returns) when done with `data`: what is left unread is then drained. A throw or rejection fails the import.
   */
  onFile: (name: string, data: Readable, info: { size: number | undefined; mtime: Date }) => Promise<void> | void
  /** onFile calls in flight at once, default 4. */
  concurrency?: number
  signal?: AbortSignal
  limits?: Limits
  /** For a case-insensitive store: names equal after NFC and case folding are rejected (`E_PATH_COLLISION`). `extractToDirectory` sets it. */
  caseInsensitive?: boolean
  onProgress?: (progress: ImportProgress) => void
}

/** Errors raised after some files were delivered carry their names, for rollback. */
export interface ImportError extends BackupError {
  delivered?: string[]
}

export function createAppExport(options: AppExportOptions): Readable
export function importAppExport(source: Readable | Buffer | string, options: AppImportOptions): Promise<ImportSummary>
export function exportDirectory(dir: string, options?: Omit<AppExportOptions, 'db' | 'files'>): Readable
export function extractToDirectory(
  source: Readable | Buffer | string,
  dir: string,
  options?: Omit<AppImportOptions, 'onDb' | 'onFile'>,
): Promise<ImportSummary>
