'use strict'

// createAppExport: the backend's archive layout (FORMAT.md §2) streamed from its sources.

const { pipeline } = require('node:stream/promises')
const { Transform } = require('node:stream')
const native = require('../binding.js')
const { Pack } = require('./pack')
const { NativeTransform } = require('./transform')
const { backupError, fromNative, abortedError, invalidArgument } = require('./errors')

const SMALL_FILE = 256 * 1024

function sourceFailed(name, cause) {
  return backupError('E_SOURCE_ERROR', `Source of ${JSON.stringify(name)} failed: ${cause.message}`, { entryName: name, cause })
}

// Reads a small source whole; stops early once it has more than `size` bytes.
async function readSmall(source, size) {
  const chunks = []
  let length = 0
  for await (const chunk of source) {
    const buf = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk)
    chunks.push(buf)
    length += buf.length
    if (length > size) {
      source.destroy()
      break
    }
  }
  return Buffer.concat(chunks, length)
}

// One per-file envelope under the export's shared key (same salt, fresh IV, no PBKDF2).
function encryptStream(sharedKey, level) {
  return new NativeTransform(native.NativeTransform.encryptWithSharedKey(sharedKey, level))
}

async function open(source) {
  const stream = typeof source === 'function' ? await source() : source
  if (!stream || typeof stream.pipe !== 'function') throw invalidArgument('a source must be a Readable or a function returning one')
  return stream
}

function checkName(name) {
  if (typeof name !== 'string') throw invalidArgument('file name must be a string')
  try {
    return native.checkEntryName(name)
  } catch (err) {
    throw fromNative(err)
  }
}

// Looks ahead of the entry being written: opens up to OPEN_AHEAD large sources, and opens and
// reads small ones whole (up to READ_AHEAD_FILES files, READ_AHEAD_BYTES bytes) and has
// `seal` encrypt them where it should, so the latency and the work per small file overlap
// instead of adding up.
const OPEN_AHEAD = 2
const READ_AHEAD_FILES = 32
const READ_AHEAD_BYTES = 4 << 20

const isSmall = (file) => file.size !== undefined && file.size <= SMALL_FILE

async function* lookAhead(files, signal, seal) {
  const ahead = []
  const iterator = (files[Symbol.asyncIterator] || files[Symbol.iterator]).call(files)
  let done = false
  let large = 0
  let bytes = 0
  const fill = async () => {
    while (!done && large < OPEN_AHEAD && ahead.length < READ_AHEAD_FILES && bytes < READ_AHEAD_BYTES) {
      const next = await iterator.next()
      if (next.done) {
        done = true
        break
      }
      const file = next.value
      const small = isSmall(file)
      // `_data`: the whole file, already read by its producer (exportDirectory); no stream then.
      const whole = small && Buffer.isBuffer(file._data) ? file._data : null
      const opened = whole ? Promise.resolve(null) : open(file.stream)
      opened.catch(() => {})
      const item = { file, opened, small }
      if (small) {
        item.data = whole ? Promise.resolve(whole) : opened.then((source) => readSmall(source, file.size))
        item.data.catch(() => {})
        const sealer = typeof file.name === 'string' ? seal(file.name) : null
        if (sealer) {
          item.sealed = item.data.then(sealer)
          item.sealed.catch(() => {})
        }
        bytes += file.size
      } else {
        large++
      }
      ahead.push(item)
    }
  }
  try {
    for (;;) {
      await fill()
      if (!ahead.length) return
      if (signal && signal.aborted) return
      const item = ahead.shift()
      if (item.small) bytes -= item.file.size
      else large--
      yield item
    }
  } finally {
    for (const { opened } of ahead) opened.then((s) => s && s.destroy(), () => {})
    if (typeof iterator.return === 'function') await iterator.return()
  }
}

function createAppExport(options = {}) {
  const { db, files = [], password, encryption = 'per-file', level = 6, signal, onProgress } = options
  if (!db) throw invalidArgument('db is required')
  if (password !== undefined && typeof password !== 'string') throw invalidArgument('password must be a string')
  if (encryption !== 'per-file' && encryption !== 'archive') throw invalidArgument("encryption must be 'per-file' or 'archive'")
  if (!Number.isInteger(level) || level < 0 || level > 9) throw invalidArgument('level must be an integer 0-9')
  const perFile = password !== undefined && encryption === 'per-file'
  const wholeArchive = password !== undefined && encryption === 'archive'

  const progress = { entries: 0, bytesIn: 0, bytesOut: 0 }
  const report = () => onProgress && onProgress({ ...progress })
  // The whole archive: AES-CTR around the gzip pack's output, in the pack's own native calls.
  const tar = new Pack({
    gzip: { level },
    stagingMemory: options.stagingMemory,
    stagingDir: options.stagingDir,
    _password: wholeArchive ? password : undefined,
  })
  const counter = new Transform({
    transform(chunk, encoding, callback) {
      progress.bytesOut += chunk.length
      callback(null, chunk)
    },
  })
  const output = tar.pipe(counter)
  const fail = (err) => {
    for (const stream of [output, tar]) if (!stream.destroyed) stream.destroy(err)
  }
  tar.on('error', fail)
  let current = null
  const onAbort = () => {
    const err = abortedError(signal.reason)
    if (current) current.destroy(err)
    fail(err)
  }
  if (signal) {
    if (signal.aborted) process.nextTick(onAbort)
    else signal.addEventListener('abort', onAbort, { once: true })
    output.on('close', () => signal.removeEventListener('abort', onAbort))
  }

  // Writes one entry from a source stream; failures carry the entry's name.
  // `source` is null where the look-ahead has the file's data whole.
  const writeEntry = async (name, source, { size, mtime, encrypt, data, sealed }) => {
    current = source
    let sourceError = null
    if (source) source.once('error', (err) => (sourceError = err))
    const header = { name: encrypt ? `${name}.enc` : name, mode: 0o644, mtime: mtime || new Date() }
    if (!encrypt && size !== undefined) header.size = size
    try {
      if (size !== undefined && size <= SMALL_FILE) {
        // Small files: read whole (and sealed in one call), then one native call for header, data and padding.
        const plain = await (data || readSmall(source, size)).catch((err) => {
          sourceError = err
          throw err
        })
        progress.bytesIn += plain.length
        const body = encrypt ? await (sealed || seal(plain)) : plain
        await new Promise((resolve, reject) => tar.entry(header, body, (err) => (err ? reject(err) : resolve())))
      } else {
        const counting = new Transform({
          transform(chunk, encoding, callback) {
            progress.bytesIn += chunk.length
            callback(null, chunk)
          },
        })
        const sink = tar.entry(header)
        await pipeline(encrypt ? [source, counting, encryptStream(sharedKey, level), sink] : [source, counting, sink])
      }
    } catch (err) {
      if (sourceError) throw sourceFailed(name, sourceError)
      const mapped = fromNative(err)
      if (mapped.code === 'E_SIZE_MISMATCH') mapped.entryName = name
      throw mapped
    } finally {
      current = null
    }
    progress.entries++
    report()
  }

  // Per-file envelopes share one derived key (same salt, fresh IV each): one PBKDF2 per export.
  let sharedKey = null
  const encrypts = (name) => perFile && !name.startsWith('attachments/')
  const seal = (plain) => native.encryptBufferWithSharedKey(plain, sharedKey, level)
  // For the look-ahead: how to seal a small file of this name, if it is sealed.
  const sealFor = (name) => (encrypts(name) ? seal : null)
  const run = async () => {
    if (perFile) sharedKey = await native.deriveSharedKey(password)
    await writeEntry('db.txt', await open(db), { encrypt: perFile })
    for await (const { file, opened, data, sealed } of lookAhead(files, signal, sealFor)) {
      if (output.destroyed) return
      const name = checkName(file.name)
      if (file.size !== undefined && (!Number.isSafeInteger(file.size) || file.size < 0)) {
        throw invalidArgument(`size of ${JSON.stringify(file.name)} must be a non-negative integer`)
      }
      let source
      try {
        source = await opened
      } catch (err) {
        throw backupError('E_SOURCE_ERROR', `Source of ${JSON.stringify(name)} could not be opened: ${err.message}`, {
          entryName: name,
          cause: err,
        })
      }
      const encrypt = encrypts(name)
      // Sealed ahead under the name as given; `name` is the checked one, normally the same.
      const sealedAhead = encrypt === encrypts(file.name) ? sealed : undefined
      await writeEntry(name, source, { size: file.size, mtime: file.mtime, encrypt, data, sealed: sealedAhead })
    }
    tar.finalize()
  }
  run().catch(fail)
  return output
}

module.exports = { createAppExport, SMALL_FILE }
