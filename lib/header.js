'use strict'

const { invalidArgument } = require('./errors')

const NO_DATA_TYPES = new Set(['link', 'symlink', 'character-device', 'block-device', 'directory', 'fifo'])

function seconds(mtime) {
  if (mtime === undefined || mtime === null) return Math.floor(Date.now() / 1000)
  const ms = mtime instanceof Date ? mtime.getTime() : Number(mtime)
  if (!Number.isFinite(ms)) throw invalidArgument('header.mtime must be a valid Date')
  return Math.floor(ms / 1000)
}

function optionalInt(value, what) {
  if (value === undefined || value === null) return undefined
  if (!Number.isSafeInteger(value) || value < 0) throw invalidArgument(`header.${what} must be a non-negative integer`)
  return value
}

// tar-stream header -> the native header. `size` stays undefined when it is not known.
function toNative(header) {
  if (!header || typeof header.name !== 'string' || header.name === '') {
    throw invalidArgument('header.name must be a non-empty string')
  }
  const type = header.type || 'file'
  const noData = NO_DATA_TYPES.has(type)
  return {
    name: header.name,
    type,
    size: noData ? 0 : optionalInt(header.size, 'size'),
    mode: optionalInt(header.mode, 'mode') ?? (type === 'directory' ? 0o755 : 0o644),
    uid: optionalInt(header.uid, 'uid') ?? 0,
    gid: optionalInt(header.gid, 'gid') ?? 0,
    mtime: seconds(header.mtime),
    linkname: header.linkname || undefined,
    uname: header.uname || '',
    gname: header.gname || '',
    devmajor: optionalInt(header.devmajor, 'devmajor') ?? 0,
    devminor: optionalInt(header.devminor, 'devminor') ?? 0,
    pax: header.pax || undefined,
  }
}

// A header as the extractor gives it (zero and empty fields left out) -> the tar-stream shape.
function fromNative(h) {
  return {
    name: h.name,
    mode: h.mode,
    uid: h.uid ?? 0,
    gid: h.gid ?? 0,
    size: h.size,
    mtime: new Date(h.mtime * 1000),
    type: h.type ?? null,
    linkname: h.linkname ?? null,
    uname: h.uname ?? '',
    gname: h.gname ?? '',
    devmajor: h.devmajor ?? 0,
    devminor: h.devminor ?? 0,
    pax: h.pax ?? null,
  }
}

module.exports = { toNative, fromNative, NO_DATA_TYPES }
