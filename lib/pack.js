'use strict'

const { Readable, Writable, addAbortSignal } = require('node:stream')
const { NativePack } = require('../binding.js')
const { Coalescer, toBuffer } = require('./coalesce')
const { fromNative, abortedError, destroyReason, backupError, invalidArgument } = require('./errors')
const header = require('./header')

function gzipLevel(gzip) {
  if (gzip === undefined || gzip === false || gzip === null) return undefined
  if (gzip === true) return 6
  const level = typeof gzip === 'object' ? gzip.level ?? 6 : gzip
  if (!Number.isInteger(level) || level < 0 || level > 9) throw invalidArgument('gzip level must be an integer 0-9')
  return level
}

// Entries given whole (small files) are gathered into one native call of up to BATCH_BYTES,
// sent when full or on the next turn of the event loop. They are accepted (their callback
// called) right away while less than BACKLOG_BYTES waits to be written, else once written.
const BATCH_BYTES = 256 * 1024
const BACKLOG_BYTES = 4 << 20
const HEADER_COST = 1024
const EMPTY = Buffer.alloc(0)
// A streamed entry's chunks go to the native side a MiB at a time, as a list: its output then
// comes in buffers large enough for the native pool to keep and serve again.
const STREAM_WRITE_BYTES = 1 << 20

// tar-stream's Pack: entries are written in the order `entry()` is called; each runs its
// native calls one after another through `_serial`.
class Pack extends Readable {
  constructor(options = {}) {
    super({ highWaterMark: 1 << 20 })
    this._native = new NativePack({
      gzip: gzipLevel(options.gzip),
      stagingMemory: options.stagingMemory,
      stagingDir: options.stagingDir,
      password: options._password, // createAppExport's whole-archive envelope
    })
    this._queue = Promise.resolve()
    this._pushOk = true
    this._readWaiter = null
    this._finalized = false
    this._sinks = new Set()
    this._batch = null
    this._batchTimer = null
    this._backlog = 0
    if (options.signal) addAbortSignal(options.signal, this)
  }

  entry(hdr, data, callback) {
    if (typeof data === 'function') [callback, data] = [data, undefined]
    callback = callback || (() => {})
    if (this._finalized) {
      const err = backupError('E_INVALID_STATE', 'entry() called after finalize()')
      process.nextTick(callback, err)
      this.destroy(err)
      return new Writable({ write: (c, e, cb) => cb(err) })
    }
    let native
    try {
      native = header.toNative(hdr)
      if (data !== undefined && data !== null) {
        data = toBuffer(data, 'utf8')
        if (native.size !== undefined && native.size !== data.length && !header.NO_DATA_TYPES.has(native.type)) {
          throw backupError('E_SIZE_MISMATCH', `Entry ${JSON.stringify(hdr.name)} declared a size of ${native.size} bytes but its data has ${data.length}`)
        }
        if (native.size === undefined) native.size = data.length
      }
    } catch (err) {
      process.nextTick(callback, err)
      this.destroy(err)
      return new Writable({ write: (c, e, cb) => cb(err) })
    }
    const noData = header.NO_DATA_TYPES.has(native.type)
    const whole = noData || (data !== undefined && data !== null)
    const sink = new EntrySink(this, whole)
    this._sinks.add(sink)
    if (whole) {
      this._addWhole(native, noData ? EMPTY : data, sink, callback)
      return sink
    }
    this._sendBatch()
    const done = this._serial(async () => {
      await this._call(() => this._native.begin(native, native.size !== undefined))
      sink._activate()
      await sink._done
    })
    done.then(
      () => {
        this._sinks.delete(sink)
        callback(null)
      },
      (err) => {
        this._sinks.delete(sink)
        callback(err)
        this.destroy(err)
      },
    )
    return sink
  }

  _addWhole(native, data, sink, callback) {
    if (this.destroyed) {
      this._sinks.delete(sink)
      process.nextTick(callback, this._abortReason())
      return
    }
    const batch = this._batch || (this._batch = { headers: [], data: [], bytes: 0, waiting: [] })
    const cost = data.length + HEADER_COST
    batch.headers.push(native)
    batch.data.push(data)
    batch.bytes += cost
    this._backlog += cost
    const settle = (err) => {
      this._sinks.delete(sink)
      if (!err) sink.end()
      callback(err || null)
    }
    if (this._backlog <= BACKLOG_BYTES) process.nextTick(settle)
    else batch.waiting.push(settle)
    if (batch.bytes >= BATCH_BYTES) this._sendBatch()
    else if (!this._batchTimer) this._batchTimer = setImmediate(this._sendBatch)
  }

  // Queues the gathered whole entries as one native call, before anything entered after them.
  _sendBatch = () => {
    if (this._batchTimer) clearImmediate(this._batchTimer)
    this._batchTimer = null
    const batch = this._batch
    if (!batch) return
    this._batch = null
    const settled = (err) => {
      this._backlog -= batch.bytes
      for (const settle of batch.waiting) settle(err)
    }
    this._serial(() => this._call(() => this._native.entries(batch.headers, batch.data))).then(
      () => settled(null),
      (err) => {
        settled(err)
        this.destroy(err)
      },
    )
  }

  finalize() {
    if (this._finalized) return
    this._finalized = true
    this._sendBatch()
    this._serial(async () => {
      await this._call(() => this._native.finalize())
      this.push(null)
    }).catch((err) => this.destroy(err))
  }

  _serial(task) {
    const run = this._queue.then(() => {
      if (this.destroyed) throw this._abortReason()
      return task()
    })
    this._queue = run.catch(() => {})
    return run
  }

  // A native call, then the follow-up calls a staged entry needs, respecting backpressure.
  async _call(call) {
    let out
    try {
      out = await call()
      for (;;) {
        if (this.destroyed) throw this._abortReason()
        if (out.length) this._pushOk = this.push(out)
        if (!this._pushOk) await new Promise((resolve) => (this._readWaiter = resolve))
        if (this.destroyed) throw this._abortReason()
        if (!this._native.hasMore()) return
        out = await this._native.pull()
      }
    } catch (err) {
      throw fromNative(err)
    }
  }

  _abortReason() {
    return this._destroyError || abortedError()
  }

  _read() {
    this._pushOk = true
    const waiter = this._readWaiter
    this._readWaiter = null
    if (waiter) waiter()
  }

  _destroy(err, callback) {
    const reason = destroyReason(err)
    this._destroyError = reason
    this._native.abort()
    for (const sink of this._sinks) sink.destroy(sink.listenerCount('error') ? reason || abortedError() : null)
    const waiter = this._readWaiter
    this._readWaiter = null
    if (waiter) waiter()
    callback(reason)
  }
}

// The Writable returned by `pack.entry()` for streamed entries.
class EntrySink extends Writable {
  // `whole`: the entry was given all its data up front; the sink only reports completion.
  constructor(pack, whole) {
    super({ highWaterMark: 1 << 20 })
    this._pack = pack
    this._whole = whole
    this._settled = whole // a whole entry's outcome goes to its callback, not through the sink
    if (whole) return
    this._pending = new Coalescer(STREAM_WRITE_BYTES, { asList: true })
    this._active = new Promise((resolve) => (this._activate = resolve))
    this._done = new Promise((resolve, reject) => {
      this._resolveDone = resolve
      this._rejectDone = reject
    })
    this._done.catch(() => {})
  }

  _settle(err) {
    if (this._settled) return
    this._settled = true
    if (err) this._rejectDone(err)
    else this._resolveDone()
  }

  _write(chunk, encoding, callback) {
    if (this._whole) return callback(backupError('E_INVALID_STATE', 'This entry was given its data in entry()'))
    this._pending.write(chunk, encoding, callback, this._send, (err, cb) => this._fail(err, cb))
  }

  _send = (chunks) => this._active.then(() => this._pack._call(() => this._pack._native.write(chunks)))

  _final(callback) {
    if (this._whole) return callback()
    this._active
      .then(async () => {
        await this._pending.flush(this._send)
        await this._pack._call(() => this._pack._native.end())
      })
      .then(
        () => {
          callback()
          this._settle(null)
        },
        (err) => this._fail(err, callback),
      )
  }

  _fail(err, callback) {
    this._settle(err)
    callback(err)
  }

  _destroy(err, callback) {
    if (!this._settled) this._settle(destroyReason(err) || abortedError())
    callback(destroyReason(err))
  }
}

module.exports = { Pack }
