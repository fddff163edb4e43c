'use strict'

// A folder laid out as an export (db.txt plus the object-store files) <-> an archive.

const fs = require('node:fs')
const fsp = require('node:fs/promises')
const path = require('node:path')
const native = require('../binding.js')
const { createAppExport, SMALL_FILE } = require('./app-export')
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

// Files are described a batch at a time in one native call that also reads the small ones
// whole (src/folder.rs): a stat, an open, two reads and a close per file through Node's
// thread pool cost the event loop more than the export's own work on a folder of small files.
const DESCRIBE_AHEAD = 32
const READ_AHEAD_BYTES = 4 << 20
// Reads of large files: fewer, larger native calls.
const READ_CHUNK = 256 * 1024

function exportDirectory(dir, options = {}) {
  const db = path.join(dir, 'db.txt')
  const describe = async (names) => {
    const found = await native.readFolderFiles(dir, names, SMALL_FILE, READ_AHEAD_BYTES)
    return found.map(({ size, mtimeMs, data, error }, i) => {
      if (error) throw fromNative({ message: error })
      const file = path.join(dir, names[i])
      return { name: names[i], size, mtime: new Date(mtimeMs), stream: () => fs.createReadStream(file, { highWaterMark: READ_CHUNK }), _data: data }
    })
  }
  async function* files() {
    const batch = []
    for await (const name of walk(dir)) {
      if (name === 'db.txt') continue
      batch.push(name)
      if (batch.length === DESCRIBE_AHEAD) yield* await describe(batch.splice(0))
    }
    if (batch.length) yield* await describe(batch)
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
