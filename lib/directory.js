'use strict'

// A folder laid out as an export (db.txt plus the object-store files) <-> an archive.

const fs = require('node:fs')
const fsp = require('node:fs/promises')
const path = require('node:path')
const crypto = require('node:crypto')
const { pipeline } = require('node:stream/promises')
const { createAppExport } = require('./app-export')
const { importAppExport } = require('./app-import')
const { backupError } = require('./errors')

// Every regular file below `dir`, as export names, in lexicographic order; symlinks are skipped.
async function* walk(dir, prefix = '') {
  const entries = (await fsp.readdir(path.join(dir, prefix), { withFileTypes: true })).sort((a, b) => (a.name < b.name ? -1 : 1))
  for (const entry of entries) {
    const name = prefix ? `${prefix}/${entry.name}` : entry.name
    if (entry.isDirectory()) yield* walk(dir, name)
    else if (entry.isFile()) yield name
  }
}

function exportDirectory(dir, options = {}) {
  const db = path.join(dir, 'db.txt')
  async function* files() {
    for await (const name of walk(dir)) {
      if (name === 'db.txt') continue
      const file = path.join(dir, name)
      const stat = await fsp.stat(file)
      yield { name, size: stat.size, mtime: stat.mtime, stream: () => fs.createReadStream(file) }
    }
  }
  return createAppExport({ ...options, db: () => fs.createReadStream(db), files: files() })
}

// Creates every missing directory of `name` below `root`, refusing to pass through a symlink.
async function safeParent(root, name) {
  const parts = name.split('/').slice(0, -1)
  let current = root
  for (const part of parts) {
    current = path.join(current, part)
    let stat = null
    try {
      stat = await fsp.lstat(current)
    } catch (err) {
      if (err.code !== 'ENOENT') throw err
      await fsp.mkdir(current)
      continue
    }
    if (!stat.isDirectory()) {
      throw backupError('E_LINK_ESCAPE', `${JSON.stringify(name)} would pass through a non-directory or symlink`, { entryName: name })
    }
  }
  return current
}

// Writes a file exclusively: to a temp name first, linked into place only once complete.
async function writeExclusive(root, name, data) {
  const parent = await safeParent(root, name)
  const final = path.join(parent, path.basename(name))
  const temp = path.join(parent, `.${path.basename(name)}.${crypto.randomBytes(6).toString('hex')}.partial`)
  try {
    await pipeline(data, fs.createWriteStream(temp, { flags: 'wx', mode: 0o644 }))
    await fsp.link(temp, final).catch((err) => {
      if (err.code === 'EEXIST') throw backupError('E_DUPLICATE_ENTRY', `${JSON.stringify(name)} already exists`, { entryName: name })
      throw err
    })
  } finally {
    await fsp.unlink(temp).catch(() => {})
  }
}

async function extractToDirectory(source, dir, options = {}) {
  await fsp.mkdir(dir, { recursive: true })
  const root = await fsp.realpath(dir)
  const seen = new Set()
  const claim = (name) => {
    const key = name.normalize('NFC').toLowerCase()
    if (seen.has(key)) throw backupError('E_PATH_COLLISION', `${JSON.stringify(name)} collides with another entry on disk`, { entryName: name })
    seen.add(key)
  }
  return importAppExport(source, {
    ...options,
    onDb: (dump) => {
      claim('db.txt')
      return writeExclusive(root, 'db.txt', dump)
    },
    onFile: (name, data) => {
      claim(name)
      return writeExclusive(root, name, data)
    },
  })
}

module.exports = { exportDirectory, extractToDirectory }
