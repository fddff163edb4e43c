'use strict'

const { Transform, addAbortSignal } = require('node:stream')
const { Coalescer } = require('./coalesce')
const { fromNative, destroyReason } = require('./errors')

// A Node Transform over a native push/end/pull object. Every byte of CPU work happens in
// the native object's worker-thread calls; this class only moves buffers and waits.
class NativeTransform extends Transform {
  constructor(native, options = {}) {
    super({ readableHighWaterMark: 1 << 20, writableHighWaterMark: 1 << 20 })
    this._native = native
    this._pending = new Coalescer()
    this._pushOk = true
    this._readWaiter = null
    if (options.signal) addAbortSignal(options.signal, this)
  }

  _transform(chunk, encoding, callback) {
    this._pending.write(chunk, encoding, callback, this._send, (err, cb) => this._fail(err, cb))
  }

  _send = (buffer) => this._run(() => this._native.push(buffer))

  _flush(callback) {
    const finish = async () => {
      await this._pending.flush(this._send)
      await this._run(() => this._native.end())
    }
    finish().then(() => callback(), (err) => this._fail(err, callback))
  }

  // One native call, then as many bounded follow-up calls as it needs, pausing whenever
  // the readable side is full.
  async _run(call) {
    let out = await call()
    for (;;) {
      if (this.destroyed) return
      if (out.length) this._pushOk = this.push(out)
      if (!this._native.hasMore()) return
      if (!this._pushOk) await new Promise((resolve) => (this._readWaiter = resolve))
      if (this.destroyed) return
      out = await this._native.pull()
    }
  }

  _fail(err, callback) {
    if (!this.destroyed) callback(fromNative(err))
  }

  _read(size) {
    this._pushOk = true
    const waiter = this._readWaiter
    this._readWaiter = null
    if (waiter) waiter()
    super._read(size)
  }

  _destroy(err, callback) {
    this._native.abort()
    callback(destroyReason(err))
  }
}

module.exports = { NativeTransform }
