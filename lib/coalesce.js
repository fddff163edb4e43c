'use strict'

// Small writes are gathered into one native call: an async native call costs 12-40 us,
// so below ~64 KiB per call the overhead shows.
const COALESCE_BYTES = 128 * 1024

class Coalescer {
  // `asList`: what has gathered is handed over as an array of the chunks, for a native call
  // that takes several buffers, instead of concatenated into one.
  constructor(limit = COALESCE_BYTES, { asList = false } = {}) {
    this.limit = limit
    this.asList = asList
    this.chunks = []
    this.length = 0
  }

  // Adds a chunk; returns a buffer (or list) to send once enough has gathered, else null.
  add(chunk) {
    if (this.length === 0 && chunk.length >= this.limit) return this.asList ? [chunk] : chunk
    this.chunks.push(chunk)
    this.length += chunk.length
    return this.length >= this.limit ? this.take() : null
  }

  // A Writable's write: gathers `chunk`, and once enough has gathered hands it to `send`
  // (which returns a promise) and calls back when that settles; `fail` maps errors.
  write(chunk, encoding, callback, send, fail) {
    let ready
    try {
      ready = this.add(toBuffer(chunk, encoding))
    } catch (err) {
      return callback(err)
    }
    if (!ready) return callback()
    send(ready).then(() => callback(), (err) => fail(err, callback))
  }

  // Sends whatever is still gathered.
  async flush(send) {
    if (this.length) await send(this.take())
  }

  take() {
    const out = this.asList ? this.chunks : this.chunks.length === 1 ? this.chunks[0] : Buffer.concat(this.chunks, this.length)
    this.chunks = []
    this.length = 0
    return out
  }
}

function toBuffer(chunk, encoding) {
  if (Buffer.isBuffer(chunk)) return chunk
  if (typeof chunk === 'string') return Buffer.from(chunk, encoding === 'buffer' ? 'utf8' : encoding)
  if (ArrayBuffer.isView(chunk)) return Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength)
  throw new TypeError('Chunks must be Buffers, typed arrays or strings')
}

module.exports = { Coalescer, toBuffer, COALESCE_BYTES }
