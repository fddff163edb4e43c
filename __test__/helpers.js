'use strict'

const { Readable, Writable } = require('node:stream')
const { pipeline } = require('node:stream/promises')
const { spawnSync } = require('node:child_process')
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')

// A small deterministic PRNG so random splits are reproducible.
function rng(seed) {
  let s = seed >>> 0 || 1
  return () => {
    s ^= s << 13
    s >>>= 0
    s ^= s >>> 17
    s ^= s << 5
    s >>>= 0
    return s / 0x100000000
  }
}

// The same bytes cut three ways: whole, one byte at a time, and in random pieces.
function splits(buf, seed = 7) {
  const random = []
  const next = rng(seed + buf.length)
  for (let i = 0; i < buf.length; ) {
    const n = 1 + Math.floor(next() * Math.min(buf.length - i, 70000))
    random.push(buf.subarray(i, i + n))
    i += n
  }
  const bytes = []
  for (let i = 0; i < buf.length; i++) bytes.push(buf.subarray(i, i + 1))
  return { whole: [buf], random, bytes }
}

// Chunkings to run for an input: one byte at a time only where that stays quick.
function chunkings(buf, maxBytewise = 64 * 1024) {
  const all = splits(buf)
  if (buf.length > maxBytewise) delete all.bytes
  return Object.entries(all)
}

function fromChunks(chunks) {
  return Readable.from(chunks, { objectMode: false })
}

async function collect(stream) {
  const chunks = []
  for await (const c of stream) chunks.push(c)
  return Buffer.concat(chunks)
}

// Runs chunks through a transform; resolves with the output or rejects with the error.
async function through(transform, chunks) {
  const out = []
  await pipeline(
    fromChunks(chunks),
    transform,
    new Writable({
      write(c, e, cb) {
        out.push(c)
        cb()
      },
    }),
  )
  return Buffer.concat(out)
}

// Settles to the error a promise rejects with (fails the test if it resolves).
async function rejection(promise) {
  try {
    await promise
  } catch (err) {
    return err
  }
  throw new Error('expected a rejection, but it resolved')
}

function run(cmd, args, options = {}) {
  const r = spawnSync(cmd, args, { maxBuffer: 1 << 30, ...options })
  if (r.error) throw r.error
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed: ${r.stderr}`)
  return r.stdout
}

// A fresh directory under the OS temp dir, removed after the test file's last test. Each test
// file loads its own copy of this module, which registers the hook as it loads (hooks cannot be
// added from inside a test).
const madeDirs = []
if (typeof afterAll === 'function') {
  afterAll(() => {
    for (const dir of madeDirs.splice(0)) fs.rmSync(dir, { recursive: true, force: true, maxRetries: 3 })
  })
}
function tmpdir(prefix = 'bn-') {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix))
  madeDirs.push(dir)
  return dir
}

// Lists an archive with our extract: [{ name, type, size, linkname, data }]
async function listArchive(extract, chunks) {
  const entries = []
  const done = (async () => {
    for await (const entry of extract) {
      const data = await collect(entry)
      const h = entry.header
      entries.push({ name: h.name, type: h.type, size: h.size, linkname: h.linkname, data })
    }
  })()
  await Promise.all([pipeline(fromChunks(chunks), extract), done])
  return entries
}

// The envelope exactly as FORMAT.md §1 describes it, made and opened with Node's crypto and zlib.
function nodeEncrypt(plain, password) {
  const crypto = require('node:crypto')
  const salt = crypto.randomBytes(16)
  const iv = crypto.randomBytes(16)
  const key = crypto.pbkdf2Sync(password, salt, 10000, 32, 'sha512')
  const cipher = crypto.createCipheriv('aes-256-ctr', key, iv)
  return Buffer.concat([salt, iv, cipher.update(require('node:zlib').gzipSync(plain)), cipher.final()])
}

function nodeDecrypt(envelope, password) {
  const crypto = require('node:crypto')
  const key = crypto.pbkdf2Sync(password, envelope.subarray(0, 16), 10000, 32, 'sha512')
  const decipher = crypto.createDecipheriv('aes-256-ctr', key, envelope.subarray(16, 32))
  return require('node:zlib').gunzipSync(Buffer.concat([decipher.update(envelope.subarray(32)), decipher.final()]))
}

function openFds() {
  return fs.readdirSync('/proc/self/fd').length
}

module.exports = { rng, splits, chunkings, fromChunks, collect, through, rejection, run, tmpdir, listArchive, openFds, nodeEncrypt, nodeDecrypt }
