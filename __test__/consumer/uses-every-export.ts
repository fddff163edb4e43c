// A TypeScript consumer of every export, type-checked with `tsc --noEmit --strict` against
// the installed package (see package.test.js).
import { Readable, Writable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import {
  createGzip,
  createGunzip,
  createEncryptStream,
  createDecryptStream,
  encrypt,
  decrypt,
  pack,
  extract,
  createAppExport,
  importAppExport,
  exportDirectory,
  extractToDirectory,
  Pack,
  Extract,
  type BackupError,
  type Headers,
  type ImportSummary,
  type Limits,
} from '@app/backup-native'

async function main(): Promise<void> {
  const sink = new Writable({ write: (_chunk, _encoding, callback) => callback() })
  await pipeline(Readable.from(['x']), createGzip({ level: 9 }), createGunzip(), sink)
  const sealed: Buffer = await encrypt('plain', 'pw', { level: 1 })
  const opened: Buffer = await decrypt(sealed, 'pw')
  createEncryptStream('pw').pipe(createDecryptStream('pw'))

  const p: Pack = pack({ gzip: { level: 6 } })
  p.entry({ name: 'a.txt', size: 1, mtime: new Date() }, Buffer.from('a'))
  p.finalize()
  const limits: Limits = { maxEntries: 10, maxTotalBytes: Infinity }
  const x: Extract = extract({ policy: 'strict', limits, caseInsensitive: true })
  x.on('entry', (header: Headers, stream, next) => {
    stream.resume()
    stream.on('end', () => next())
    void header.name.length
  })
  await pipeline(p, x)

  const archive: Readable = createAppExport({
    db: () => Readable.from(['{}\n']),
    files: [{ name: 'attachments/a.png', size: 1, stream: Readable.from([Buffer.from('a')]) }],
    password: 'pw',
    encryption: 'archive',
    onProgress: (progress) => void progress.bytesOut,
  })
  const summary: ImportSummary = await importAppExport(archive, {
    password: 'pw',
    concurrency: 2,
    onDb: async (dump) => void dump.read(),
    onFile: async (name, data, info) => void [name, data.read(), info.size, info.mtime.getTime()],
  })
  void [summary.format, summary.files, opened.length]
  const folder: ImportSummary = await extractToDirectory(exportDirectory('/tmp/in'), '/tmp/out', { password: 'pw' })
  void folder
  try {
    await decrypt(Buffer.alloc(1), 'wrong')
  } catch (err) {
    const e = err as BackupError
    void [e.code, e.entryName, e.entryIndex, e.offset]
  }
}

void main
