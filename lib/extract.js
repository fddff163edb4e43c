'use strict'

const { Readable, Writable, addAbortSignal } = require('node:stream')
const { finished } = require('node:stream/promises')
const { NativeExtract } = require('../binding.js')
const { Coalescer } = require('./coalesce')
const { fromNative, abortedError, destroyReason, invalidArgument } = require('./errors')
const header = require('./header')

const FILE_CHUNK = 1024 * 1024
const SLICE_MS = 0.5 // the longest the event loop waits while a batch settles
const LONG_BATCH = 2560 // characters of events' JSON: some 15 small entries of an app
// An event's kind, its array's first element (src/node/extract.rs, `ExtractBatch`).
const HEADER = 0
const DATA = 1
const END_ENTRY = 2

function gzipMode(gzip) {
  if (gzip === undefined || gzip === 'auto') return 'auto'
  if (gzip === true) return 'always'
  if (gzip === false) return 'never'
  throw invalidArgument("gzip must be 'auto', true or false")
}

function nativeLimits(limits = {}) {
  const names = ['maxMetaBytes', 'maxPathBytes', 'maxComponentBytes', 'maxDepth', 'maxEntries', 'maxEntryBytes', 'maxTotalBytes']
  const out = {}
  for (const name of names) if (limits[name] !== undefined) out[name] = limits[name]
  return out
}

// One archive entry's bytes, as tar-stream hands them out. `header` is set for iteration.
class EntryStream extends Readable {
  constructor(hdr) {
    super({ highWaterMark: 1 << 20 })
    this.header = hdr
    this._readWaiter = null
  }

  _read() {
    const waiter = this._readWaiter
    this._readWaiter = null
    if (waiter) waiter()
  }

  // Resolves once the consumer wants more (or the stream is gone).
  _wait() {
    return new Promise((resolve) => (this._readWaiter = resolve))
  }

  _destroy(err, callback) {
    this._read()
    callback(err)
  }
}

// tar-stream's Extract: write archive bytes in, get 'entry' (header, stream, next) events.
class Extract extends Writable {
  constructor(options = {}) {
    super({ highWaterMark: 1 << 20 })
    const policy = options.policy ?? 'permissive'
    // The importer's: an entry of at most this many bytes comes whole, as `{ header, route, whole, opened }`
    // once all its bytes are in, with no stream of its own (2000 small files of an app).
    this._wholeUpTo = options._wholeUpTo ?? -1
    const envelopes = options._envelopes // the importer's { password, keys }: small envelopes come `opened`
    this._native = new NativeExtract(
      {
        gzip: gzipMode(options.gzip),
        policy,
        allowLinks: !!options.allowLinks,
        foldCase: !!options.caseInsensitive,
        appNames: !!options._appNames, // the importer's: `x` and `x.enc` are one file; entries carry their `route`
        limits: nativeLimits(options.limits),
        password: envelopes?.password,
        openUpTo: envelopes ? this._wholeUpTo : undefined,
      },
      envelopes?.keys,
    )
    this._pending = new Coalescer()
    this._entry = null
    this._turn = null
    this._whole = null
    this._delivered = Promise.resolve()
    if (options.signal) addAbortSignal(options.signal, this)
  }

  _write(chunk, encoding, callback) {
    this._pending.write(chunk, encoding, callback, this._send, (err, cb) => this._fail(err, cb))
  }

  _send = (buffer) => this._run(() => this._native.push(buffer))

  // The importer's way in for an archive on disk: reads all of the open file `handle` and
  // ends. Two buffers take turns: a native push is done with its input once it resolves, so
  // reading into the same memory again beats faulting in a fresh buffer per chunk (38 ms
  // against 188 ms for 226 MB here). Settles like `pipeline(file, extract)`.
  async _writeFile(handle) {
    const buffers = [Buffer.allocUnsafeSlow(FILE_CHUNK), Buffer.allocUnsafeSlow(FILE_CHUNK)]
    let turn = 0
    let position = 0
    let reading = handle.read(buffers[turn], 0, FILE_CHUNK, position)
    try {
      for (;;) {
        const { bytesRead } = await reading
        if (bytesRead === 0 || this.destroyed) break
        const chunk = buffers[turn].subarray(0, bytesRead)
        position += bytesRead
        turn ^= 1
        reading = handle.read(buffers[turn], 0, FILE_CHUNK, position)
        await this._send(chunk).catch((err) => {
          throw fromNative(err)
        })
      }
    } catch (err) {
      this.destroy(err) // a read error as fs gives it, a native one with its code
    }
    await reading.catch(() => {})
    if (!this.destroyed) this.end()
    await finished(this)
  }

  _final(callback) {
    const finish = async () => {
      await this._pending.flush(this._send)
      await this._run(() => this._native.end())
      await this._delivered
    }
    finish().then(() => callback(), (err) => this._fail(err, callback))
  }

  // Native calls run one after another; each batch of events is delivered to JS while the
  // next native call already inflates and parses, so both cores work. Delivery trails the
  // native side by at most one batch.
  async _run(call) {
    let batch = await call()
    for (;;) {
      await this._delivered
      if (this.destroyed) return
      this._delivered = this._deliver(batch)
      this._delivered.catch(() => {}) // awaited by the next call or by _final
      if (!this._native.hasMore()) return
      batch = await this._native.pull()
    }
  }

  // `batch`: the events as JSON and the Buffers their data lies in (src/node/extract.rs).
  // A batch of many small entries settles in microtasks alone, so it gives the event loop a
  // turn (setImmediate) every half millisecond, its JSON.parse included. Such a batch starts
  // with a turn too: one that arrives in the poll phase would otherwise take its first turn
  // straight to the check phase, past the timers.
  async _deliver(batch) {
    if (batch.events.length > LONG_BATCH) await new Promise(setImmediate)
    let slice = performance.now()
    const events = JSON.parse(batch.events)
    const buffers = batch.buffers
    for (const event of events) {
      if (this.destroyed) return
      const waiting = this._onEvent(event, buffers)
      if (waiting) await waiting
      if (performance.now() - slice > SLICE_MS) {
        await new Promise(setImmediate)
        slice = performance.now()
      }
    }
  }

  // Returns a promise only when the event has to wait: for the consumer to read, or to call `next`.
  _onEvent(event, buffers) {
    switch (event[0]) {
      case HEADER: {
        const [, nativeHeader, route] = event
        const hdr = header.fromNative(nativeHeader)
        if (hdr.size <= this._wholeUpTo) {
          this._whole = { header: hdr, route, chunks: [], length: 0 }
          return null
        }
        this._entry = new EntryStream(hdr)
        if (route) this._entry.route = route
        this._emitEntry(hdr, this._entry)
        return null
      }
      case DATA: {
        const [, index, start, end] = event
        const buffer = buffers[index]
        const data = start === 0 && end === buffer.length ? buffer : buffer.subarray(start, end)
        if (this._whole) {
          this._whole.chunks.push(data)
          this._whole.length += data.length
          return null
        }
        const entry = this._entry
        return !entry.destroyed && !entry.push(data) ? entry._wait() : null
      }
      case END_ENTRY: {
        if (this._whole) {
          const { header: hdr, route, chunks, length } = this._whole
          this._whole = null
          const whole = chunks.length === 1 ? chunks[0] : Buffer.concat(chunks, length)
          this._emitEntry(hdr, { header: hdr, route, whole, opened: event[1] === 1 })
        } else {
          this._entry.push(null)
        }
        const turn = this._turn
        if (turn.done) {
          this._entry = null
          return null
        }
        return new Promise((resolve) => (turn.resolve = resolve)).then(() => (this._entry = null))
      }
    }
    return null
  }

  _emitEntry(hdr, entry) {
    // `done` once `next` is called; a promise is made only if the entry's end has to wait for it.
    const turn = { done: false, resolve: null }
    this._turn = turn
    const next = (err) => {
      if (turn.done) return
      turn.done = true
      if (err) this.destroy(err)
      if (entry.resume && !entry.readableEnded) entry.resume() // unread data is skipped, as in tar-stream
      if (turn.resolve) turn.resolve()
    }
    if (!this.emit('entry', hdr, entry, next)) next()
  }

  _fail(err, callback) {
    if (!this.destroyed) callback(fromNative(err))
  }

  _destroy(err, callback) {
    const reason = destroyReason(err)
    this._native.abort()
    const entry = this._entry
    if (entry && !entry.destroyed) {
      entry.destroy(entry.listenerCount('error') ? reason || abortedError() : null)
    }
    callback(reason)
  }

  [Symbol.asyncIterator]() {
    return entryIterator(this)
  }
}

// `for await (const entry of extract)`: each entry is its stream, with `entry.header`.
// Moving to the next entry skips whatever the previous one left unread.
function entryIterator(extract) {
  const queue = []
  let waiting = null
  let failure = null
  let finished = false
  let previousNext = null

  const wake = () => {
    if (!waiting) return
    const { resolve, reject } = waiting
    waiting = null
    if (queue.length) resolve({ value: take(), done: false })
    else if (failure) reject(failure)
    else if (finished) resolve({ value: undefined, done: true })
  }
  const take = () => {
    const { entry, next } = queue.shift()
    previousNext = next
    return entry
  }
  extract.on('entry', (hdr, entry, next) => {
    queue.push({ entry, next })
    wake()
  })
  extract.on('error', (err) => {
    failure = err
    wake()
  })
  extract.on('finish', () => {
    finished = true
    wake()
  })
  extract.on('close', () => {
    if (!finished && !failure) failure = abortedError()
    wake()
  })

  return {
    next() {
      if (previousNext) {
        previousNext()
        previousNext = null
      }
      if (queue.length) return Promise.resolve({ value: take(), done: false })
      if (failure) return Promise.reject(failure)
      if (finished) return Promise.resolve({ value: undefined, done: true })
      return new Promise((resolve, reject) => {
        waiting = { resolve, reject }
      })
    },
    return() {
      if (!finished) extract.destroy()
      return Promise.resolve({ value: undefined, done: true })
    },
    [Symbol.asyncIterator]() {
      return this
    },
  }
}

module.exports = { Extract }
