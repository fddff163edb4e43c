'use strict'

// 32 imports and exports at once in one process, some hostile, some aborted midway, for
// several rounds: every good one still succeeds, memory stays flat, and no file descriptor,
// temp file or partial file outlives its operation.

const fs = require('node:fs')
const path = require('node:path')
const crypto = require('node:crypto')
const { Readable, Writable } = require('node:stream')
const { pipeline } = require('node:stream/promises')
const { createAppExport, importAppExport, extractToDirectory } = require('..')
const { collect, tmpdir, openFds } = require('./helpers')
const { buildCorpus } = require('./hostile/corpus')

const PASSWORD = 'soak'
const ROUNDS = 4
const hash = (b) => crypto.createHash('sha256').update(b).digest('hex')

// A small app: a dump and 40 files, some of unknown size.
function app(seed) {
  const files = []
  for (let i = 0; i < 40; i++) {
    const data = crypto.createHash('sha512').update(`${seed}-${i}`).digest().toString('hex').repeat(40 + i * 10)
    files.push({ name: `attachments/${seed}/${i}.txt`, data: Buffer.from(data) })
  }
  const db = Buffer.from(`{"_id":"${seed}","n":1}\n`.repeat(20000))
  return { db, files }
}

function exportOf({ db, files }, options = {}) {
  return createAppExport({
    ...options,
    db: () => Readable.from([db]),
    files: files.map((f, i) => ({ name: f.name, size: i % 3 ? f.data.length : undefined, stream: () => Readable.from([f.data]) })),
  })
}

// Imports `bytes`, returning name -> hash of everything delivered.
async function importHashes(bytes, options = {}) {
  const got = {}
  await importAppExport(Readable.from([bytes]), {
    ...options,
    onDb: async (s) => (got['db.txt'] = hash(await collect(s))),
    onFile: async (name, s) => (got[name] = hash(await collect(s))),
  })
  return got
}

function expected({ db, files }) {
  const out = { 'db.txt': hash(db) }
  for (const f of files) out[f.name] = hash(f.data)
  return out
}

// A sink that takes its time, so aborts land mid-stream.
const slowSink = () =>
  new Writable({
    highWaterMark: 1 << 16,
    write(chunk, encoding, callback) {
      setTimeout(callback, 1)
    },
  })

const fdCount = () => openFds()
const partials = (dir) => fs.readdirSync(dir, { recursive: true }).filter((n) => String(n).endsWith('.partial'))

test('32 concurrent imports and exports, some hostile, some aborted: the rest succeed; fds, temp files and memory stay flat', async () => {
  const work = tmpdir('bn-soak-')
  const hostile = buildCorpus(work).filter((c) => c.via !== 'extract' && !c.id.startsWith('pre-existing'))
  const apps = [0, 1, 2, 3].map((i) => app(`app${i}`))
  const plain = await Promise.all(apps.map((a) => collect(exportOf(a))))
  const encrypted = await Promise.all(apps.map((a) => collect(exportOf(a, { password: PASSWORD }))))
  const targets = path.join(work, 'targets')
  fs.mkdirSync(targets)

  // One round: 32 operations started together; resolves to the failures that were not expected.
  async function round(r) {
    const ops = []
    for (let i = 0; i < 6; i++) {
      const a = apps[i % 4]
      ops.push(collect(exportOf(a, i % 2 ? { password: PASSWORD } : {})).then((bytes) => importHashes(bytes, { password: PASSWORD })).then((got) => expect(got).toEqual(expected(a))))
    }
    for (let i = 0; i < 6; i++) {
      const a = apps[i % 4]
      ops.push(importHashes(i % 2 ? encrypted[i % 4] : plain[i % 4], { password: PASSWORD }).then((got) => expect(got).toEqual(expected(a))))
    }
    for (let i = 0; i < 4; i++) {
      const dir = path.join(targets, `r${r}-ok${i}`)
      ops.push(extractToDirectory(Readable.from([plain[i]]), dir).then(() => expect(fs.readFileSync(path.join(dir, 'db.txt')).equals(apps[i].db)).toBe(true)))
    }
    for (let i = 0; i < 8; i++) {
      const c = hostile[(r * 8 + i) % hostile.length]
      const dir = path.join(targets, `r${r}-hostile${i}`)
      ops.push(
        extractToDirectory(Readable.from([c.bytes]), dir, c.options).then(
          () => {
            throw new Error(`${c.id} was accepted`)
          },
          (err) => expect([c.id, err.code]).toEqual([c.id, c.diskCode || c.code]),
        ),
      )
    }
    for (let i = 0; i < 4; i++) {
      const controller = new AbortController()
      setTimeout(() => controller.abort(), 5 + i * 5)
      const exporting = exportOf(apps[i], { password: i % 2 ? PASSWORD : undefined, signal: controller.signal })
      ops.push(pipeline(exporting, slowSink()).then(() => expect('export finished before its abort').toBe(''), (err) => expect(err.code).toBe('E_ABORTED')))
    }
    for (let i = 0; i < 4; i++) {
      const controller = new AbortController()
      const dir = path.join(targets, `r${r}-aborted${i}`)
      const source = Readable.from(
        (async function* () {
          yield plain[i].subarray(0, plain[i].length >> 1)
          controller.abort()
          yield plain[i].subarray(plain[i].length >> 1)
        })(),
      )
      const importing = i % 2 ? extractToDirectory(source, dir, { signal: controller.signal }) : importHashes(plain[i], { signal: AbortSignal.abort() })
      ops.push(importing.then(() => expect('import finished despite its abort').toBe(''), (err) => expect(err.code).toBe('E_ABORTED')))
    }
    expect(ops.length).toBe(32)
    const results = await Promise.allSettled(ops)
    return results.filter((x) => x.status === 'rejected').map((x) => x.reason)
  }

  const settle = () => new Promise((resolve) => setTimeout(resolve, 50))
  expect(await round(0)).toEqual([])
  await settle()
  const fds = fdCount()
  const rss = [process.memoryUsage().rss]
  for (let r = 1; r < ROUNDS; r++) {
    expect(await round(r)).toEqual([])
    await settle()
    rss.push(process.memoryUsage().rss)
    expect(fdCount()).toBe(fds)
  }
  expect(partials(targets)).toEqual([])
  // Flat: later rounds need no more than the first (allowing for garbage not yet collected).
  expect(Math.max(...rss) - rss[0]).toBeLessThan(96 << 20)
})
