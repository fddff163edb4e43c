'use strict'

// Small writes are gathered into one native call: an async native call costs 12-40 us,
// so below ~64 KiB per call the overhead shows.
const COALESCE_BYTES = 128 * 1024

class Coalescer {
  constructor(limit = COALESCE_BYTES) {
    this.limit = limit
    this.chunks = []
    this.length = 0
  }

  // Adds a chunk; returns a buffer to send once enough has gathered, else null.
  add(chunk) {
    if (this.length === 0 && chunk.length >= this.limit) return chunk
    this.chunks.push(chunk)
    this.length += chunk.length
    return this.length >= this.limit ? this.take() : null
  }

  take() {
    const out = this.chunks.length === 1 ? this.chunks[0] : Buffer.concat(this.chunks, this.length)
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
