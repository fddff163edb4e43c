'use strict'

// importAppExport: detects the input by content (FORMAT.md §4), decrypts `.enc` entries as
// they stream, and hands plaintext to the caller's callbacks with bounded parallelism.

const fs = require('node:fs')
const { PassThrough, Readable, Transform } = require('node:stream')
const { pipeline } = require('node:stream/promises')
const native = require('../binding.js')
const { Extract } = require('./extract')
const { NativeTransform } = require('./transform')
const { backupError, fromNative, abortedError, invalidArgument } = require('./errors')

const MESSAGES = {
  E_PASSWORD_REQUIRED: 'Files are encrypted but no password has been supplied.',
  E_IS_PLUGIN: 'Supplied file is a plugin - cannot import as app.',
  E_NO_DB_FILE: 'App export does not appear to be valid - no DB file found.',
}
const HEAD_LEN = 512 // bytes read before deciding what an upload is (FORMAT.md §4)
const SMALL_ENTRY = 1 << 20 // entries up to this size are buffered so the parser can move on
const READ_CHUNK = 256 * 1024 // reads of an archive given by path: fewer, larger native calls
const BUFFER_BUDGET = 16 << 20 // bytes of buffered small entries in flight at once

function appError(code, details) {
  return backupError(code, MESSAGES[code], details)
}

function decryptStream(password, keys) {
  return new NativeTransform(keys ? native.NativeTransform.decryptWithCache(password, keys) : native.NativeTransform.decrypt(password))
}

// The input as a stream of our own. A caller's stream is piped in, so that stopping early
// (`release`) only unpipes it: an HTTP request can still be answered, then drained or closed.
function toReadable(source) {
  if (Buffer.isBuffer(source) || source instanceof Uint8Array) return { input: Readable.from([Buffer.from(source)]), release() {} }
  if (typeof source === 'string') return { input: fs.createReadStream(source, { highWaterMark: READ_CHUNK }), release() {} }
  if (!source || typeof source.pipe !== 'function') throw invalidArgument('source must be a Readable, a Buffer or a file path')
  const input = new PassThrough({ highWaterMark: 1 << 20 })
  const onError = (err) => input.destroy(err)
  source.on('error', onError)
  source.pipe(input)
  return {
    input,
    release() {
      source.unpipe(input)
      source.off('error', onError)
    },
  }
}

// Reads at least `n` bytes of `stream` (fewer only if it ends first). Returns them as `head`,
// whether the stream `ended` there, and a stream of everything (head included) to go on with.
// `head` is joined on first use only (read it before `stream`): a large entry goes on as the
// chunks it came in.
async function readAhead(stream, n) {
  const chunks = []
  let length = 0
  const iterator = stream[Symbol.asyncIterator]()
  let ended = false
  while (length < n) {
    const next = await iterator.next()
    if (next.done) {
      ended = true
      break
    }
    chunks.push(next.value)
    length += next.value.length
  }
  async function* all() {
    while (chunks.length) yield chunks.shift()
    for (;;) {
      const next = await iterator.next()
      if (next.done) return
      yield next.value
    }
  }
  const rest = Readable.from(all(), { objectMode: false })
  // Its errors come from `stream`, which the import reports once itself; its reader sees them too.
  rest.on('error', () => {})
  let head = null
  return {
    get head() {
      return head || (head = chunks.length === 1 ? chunks[0] : Buffer.concat(chunks, length))
    },
    ended,
    stream: rest,
  }
}

async function isRegularFile(source) {
  if (typeof source !== 'string') return false
  const stat = await fs.promises.stat(source).catch(() => null)
  return !!stat && stat.isFile()
}

// Resolves once `stream` has data or has ended, so a wrong password surfaces before a callback.
function firstBytes(stream) {
  return new Promise((resolve, reject) => {
    const done = (err) => {
      stream.off('readable', ok)
      stream.off('end', ok)
      stream.off('error', done)
      err ? reject(err) : resolve()
    }
    const ok = () => done()
    stream.once('readable', ok)
    stream.once('end', ok)
    stream.once('error', done)
  })
}

// `from` piped into `to`, errors and destroys carried both ways; returns `to`.
function chain(from, to) {
  pipeline(from, to).catch(() => {})
  return to
}

// A file's bytes, all in, as a stream: lighter than `Readable.from([bytes])`, which drives an
// iterator (20,000 small files imported 15% faster).
function bufferStream(bytes) {
  const stream = new Readable({ read() {} })
  if (bytes.length) stream.push(bytes)
  stream.push(null)
  return stream
}

// A callback's result as a promise: a plain return value resolves it, a synchronous throw
// rejects it, as an async function's would.
function settled(callback) {
  return new Promise((resolve) => resolve(callback()))
}

async function drain(stream) {
  for await (const chunk of stream) void chunk
}

async function importAppExport(source, options = {}) {
  const { password, onDb, onFile, concurrency = 4, signal, limits, onProgress, caseInsensitive = false } = options
  if (typeof onDb !== 'function' || typeof onFile !== 'function') throw invalidArgument('onDb and onFile are required')
  if (password !== undefined && typeof password !== 'string') throw invalidArgument('password must be a string')
  if (!Number.isInteger(concurrency) || concurrency < 1) throw invalidArgument('concurrency must be a positive integer')
  if (signal && signal.aborted) throw abortedError(signal.reason)

  const summary = { format: null, encrypted: false, files: 0, bytes: 0, dbBytes: 0 }
  const keys = new native.NativeKeyCache() // our exports repeat one salt: one PBKDF2 per import
  const delivered = []
  const { input, release } = toReadable(source)
  const streams = new Set([input]) // what an abort or a failure destroys
  const onAbort = () => {
    const err = abortedError(signal.reason)
    for (const s of streams) s.destroy(err)
  }
  if (signal) signal.addEventListener('abort', onAbort, { once: true })

  const countDb = (stream) =>
    chain(
      stream,
      new Transform({
        transform(chunk, encoding, callback) {
          summary.dbBytes += chunk.length
          callback(null, chunk)
        },
      }),
    )

  try {
    let { head, stream } = await readAhead(input, HEAD_LEN)
    streams.add(stream)
    const format = native.detectFormat(head.subarray(0, HEAD_LEN))
    if (format === 'empty') throw backupError('E_EMPTY_INPUT', 'Input is empty')
    if (format === 'db') {
      summary.format = 'db'
      await deliverDb(stream)
      return summary
    }
    if (format === 'encrypted') {
      if (password === undefined) throw appError('E_PASSWORD_REQUIRED')
      const plain = chain(stream, decryptStream(password))
      streams.add(plain)
      summary.encrypted = true
      ;({ head, stream } = await readAhead(plain, HEAD_LEN))
      streams.add(stream)
      if (native.detectDecryptedFormat(head.subarray(0, HEAD_LEN)) === 'db') {
        summary.format = 'encrypted-db'
        await deliverDb(stream)
        return summary
      }
      summary.format = 'encrypted-archive'
    } else {
      summary.format = format === 'gzip' ? 'tar.gz' : 'tar'
      if (await isRegularFile(source)) {
        // The stream read the head only; the archive is read again from the start. (Not so
        // a FIFO or a device: what was read from those is gone.)
        stream.destroy()
        input.destroy()
        const file = await fs.promises.open(source, 'r')
        try {
          await importArchive((extract) => extract._writeFile(file))
        } finally {
          await file.close()
        }
        return summary
      }
    }
    await importArchive((extract) => pipeline(stream, extract))
    return summary
  } catch (err) {
    if (signal && signal.aborted && err.code !== 'E_ABORTED') err = abortedError(signal.reason)
    if (delivered.length) err.delivered = delivered.slice()
    for (const s of streams) if (!s.destroyed) s.destroy()
    throw err
  } finally {
    release()
    if (signal) signal.removeEventListener('abort', onAbort)
  }

  async function deliverDb(stream) {
    await onDb(countDb(stream))
    await drain(stream)
    delivered.push('db.txt')
  }

  // `feed(extract)` writes the archive into `extract` and settles as `pipeline` does.
  async function importArchive(feed) {
    const _envelopes = password === undefined ? undefined : { password, keys }
    const extract = new Extract({ policy: 'strict', limits, caseInsensitive, _appNames: true, _wholeUpTo: SMALL_ENTRY, _envelopes })
    streams.add(extract)
    const feeding = feed(extract)
    feeding.catch(() => {})
    const inFlight = new Set()
    let buffered = 0
    let failure = null
    let sawDb = false
    // The import loop waits for any delivery to settle through one promise of its own:
    // `Promise.race(inFlight)` leaves a reaction on every delivery in flight at each wait, kept
    // until that delivery settles, so a slow one gathers one per wait.
    let wake = null
    const anySettled = () => new Promise((resolve) => (wake = resolve))
    const track = (promise, bytes) => {
      buffered += bytes
      const settle = (err) => {
        inFlight.delete(p)
        buffered -= bytes
        failure = failure || err
        if (wake) wake()
        wake = null
      }
      const p = promise.then(() => settle(), settle)
      inFlight.add(p)
    }
    const count = (bytes) => {
      summary.files++
      summary.bytes += bytes
      if (onProgress) onProgress({ files: summary.files, bytes: summary.bytes, dbBytes: summary.dbBytes })
    }
    const waitForRoom = async (bytes) => {
      while (inFlight.size && (inFlight.size >= concurrency || buffered + bytes > BUFFER_BUDGET)) await anySettled()
      if (failure) throw failure
    }

    try {
      for await (const entry of extract) {
        if (failure) throw failure
        const header = entry.header
        const route = entry.route // where the app layout sends it (src/node/app.rs)
        // Entries of up to SMALL_ENTRY bytes come whole (`entry.whole`), without a stream.
        if (route.kind === 'skip') {
          if (!entry.whole) await drain(entry)
          continue
        }
        if (route.kind === 'plugin') throw appError('E_IS_PLUGIN', { entryName: header.name })
        const { encrypted, name: plainName } = route
        if (encrypted && password === undefined) throw appError('E_PASSWORD_REQUIRED', { entryName: header.name })
        if (encrypted) summary.encrypted = true
        const named = (err) => {
          err = fromNative(err)
          err.entryName = plainName
          throw err
        }
        // `plain`: the entry's plaintext whole, where it is known; else `data` streams it.
        // A small envelope comes opened by the extractor where it could be.
        let plain = !encrypted || entry.opened ? entry.whole : null
        let data = null
        if (encrypted && entry.whole && !plain) {
          // Not opened (a wrong password, damage, a plaintext past the bound): one native call
          // to report it, or to tell that it is to be streamed.
          plain = await native.decryptSmallWithCache(entry.whole, password, keys, SMALL_ENTRY).catch(named)
        }
        if (encrypted && !plain) {
          data = chain(entry.whole ? Readable.from([entry.whole]) : entry, decryptStream(password, keys))
          await firstBytes(data).catch(named)
        }
        if (route.kind === 'db') {
          sawDb = true
          await deliverDb(data || (plain ? Readable.from([plain]) : entry))
          continue
        }
        // An envelope's plaintext size is not known: it is read ahead up to the same bound.
        const whole = plain ? { ended: true, head: plain } : await readAhead(data || entry, SMALL_ENTRY + 1)
        if (whole.ended) {
          const bytes = whole.head
          await waitForRoom(bytes.length)
          track(
            settled(() => onFile(plainName, bufferStream(bytes), { size: bytes.length, mtime: header.mtime })).then(() => delivered.push(plainName)),
            bytes.length,
          )
          count(bytes.length)
        } else {
          // A large entry streams: the parser waits until its consumer has taken it all.
          await waitForRoom(0)
          const large = whole.stream
          streams.add(large)
          large.once('close', () => streams.delete(large)) // it holds the entry's first MiB
          let bytes = 0
          large.on('data', (c) => (bytes += c.length))
          const ended = new Promise((resolve) => large.once('close', resolve))
          const info = { size: encrypted ? undefined : header.size, mtime: header.mtime }
          const consumed = settled(() => onFile(plainName, large, info)).then(async () => {
            await drain(large)
            delivered.push(plainName)
            count(bytes)
          })
          track(consumed, 0)
          await Promise.race([ended, consumed.catch(() => {})])
        }
      }
      await feeding
      while (inFlight.size) await anySettled()
      if (failure) throw failure
      if (!sawDb) throw appError('E_NO_DB_FILE')
    } catch (err) {
      await Promise.allSettled([...inFlight])
      throw failure && err.code === 'E_ABORTED' ? failure : err
    }
  }
}

module.exports = { importAppExport, MESSAGES }
