'use strict'

// A folder laid out as an export (db.txt plus the object-store files) <-> an archive.

const fs = require('node:fs')
const fsp = require('node:fs/promises')
const path = require('node:path')
const native = require('../binding.js')
const { createAppExport } = require('./app-export')
const { importAppExport } = require('./app-import')
const { Coalescer, toBuffer } = require('./coalesce')
const { fromNative } = require('./errors')

// Every regular file below `dir`, as export names, in lexicographic order; symlinks are skipped.
async function* walk(dir, prefix = '') {
  const entries = (await fsp.readdir(path.join(dir, prefix), { withFileTypes: true })).sort((a, b) => (a.name < b.name ? -1 : 1))
  for (const entry of entries) {
    const name = prefix ? `${prefix}/${entry.name}` : entry.name
    if (entry.isDirectory()) yield* walk(dir, name)
    else if (entry.isFile()) yield name
  }
}

// Stats run this many at a time, so a folder of small files does not wait on each in turn.
const STAT_AHEAD = 32
// Reads of large files: fewer, larger native calls.
const READ_CHUNK = 256 * 1024

function exportDirectory(dir, options = {}) {
  const db = path.join(dir, 'db.txt')
  const describe = async (name) => {
    const file = path.join(dir, name)
    const stat = await fsp.stat(file)
    return { name, size: stat.size, mtime: stat.mtime, stream: () => fs.createReadStream(file, { highWaterMark: READ_CHUNK }) }
  }
  async function* files() {
    const batch = []
    for await (const name of walk(dir)) {
      if (name === 'db.txt') continue
      batch.push(describe(name))
      batch[batch.length - 1].catch(() => {})
      if (batch.length === STAT_AHEAD) yield* await Promise.all(batch.splice(0))
    }
    yield* await Promise.all(batch)
  }
  return createAppExport({ ...options, db: () => fs.createReadStream(db, { highWaterMark: READ_CHUNK }), files: files() })
}

// Writes one file below `target` by handle (src/fs.rs): folders opened without following
// symlinks, an exclusive temp file, linked under its name only once complete.
async function writeFile(target, name, data, mtime) {
  const file = new native.NativeTargetFile(target, name)
  try {
    await file.open()
    const pending = new Coalescer()
    for await (const chunk of data) {
      const ready = pending.add(toBuffer(chunk))
      if (ready) await file.write(ready)
    }
    await pending.flush((buffer) => file.write(buffer))
    await file.commit(mtime === undefined ? undefined : mtime.getTime())
  } catch (err) {
    file.abort()
    if (!data.destroyed && typeof data.destroy === 'function') data.destroy()
    throw fromNative(err)
  }
}

async function extractToDirectory(source, dir, options = {}) {
  const target = await native.openTarget(path.resolve(dir)).catch((err) => {
    throw fromNative(err)
  })
  try {
    return await importAppExport(source, {
      ...options,
      caseInsensitive: true, // folders may be on a case-insensitive filesystem
      onDb: (dump) => writeFile(target, 'db.txt', dump),
      onFile: (name, data, info) => writeFile(target, name, data, info.mtime),
    })
  } finally {
    target.close()
  }
}

module.exports = { exportDirectory, extractToDirectory }
