'use strict'

// Multi-GiB entries, one of known size and one of unknown size (staged to a temp file),
// streamed through pack -> gzip -> extract from generated data, never held in memory.
// BACKUP_NATIVE_LARGE_GIB sets the size of each entry (default 2).

const { Readable, Writable } = require('node:stream')
const { pipeline } = require('node:stream/promises')
const lib = require('..')
const { rng, tmpdir } = require('./helpers')

const GIB = Number(process.env.BACKUP_NATIVE_LARGE_GIB || 2)
const MIB = 1 << 20
const ENTRY_BYTES = Math.round(GIB * 1024) * MIB

// Semi-compressible text; every MiB is stamped with its entry and index so reordering,
// loss and duplication all show.
const base = (() => {
  const next = rng(42)
  const words = ['{"_id":"', 'doc', '","_rev":"1-', 'value', '"}\n', 'lorem', 'ipsum', String(Math.PI)]
  const parts = []
  let n = 0
  while (n < MIB) {
    const w = words[Math.floor(next() * words.length)] + Math.floor(next() * 1e6)
    parts.push(w)
    n += w.length
  }
  return Buffer.from(parts.join('')).subarray(0, MIB)
})()

function mebibyte(entry, index) {
  const b = Buffer.from(base)
  b.write(`${entry}:${index}:`.padEnd(24, '.'), 0, 'latin1')
  return b
}

function generated(entry, bytes) {
  let index = 0
  return new Readable({
    highWaterMark: 4 * MIB,
    read() {
      if (index * MIB >= bytes) return this.push(null)
      this.push(mebibyte(entry, index++))
    },
  })
}

// Checks a stream of bytes against the generated sequence without buffering it.
function verifier(entry) {
  let pos = 0
  let current = null
  let currentIndex = -1
  const sink = new Writable({
    highWaterMark: 4 * MIB,
    write(chunk, encoding, callback) {
      let offset = 0
      while (offset < chunk.length) {
        const index = Math.floor(pos / MIB)
        if (index !== currentIndex) {
          current = mebibyte(entry, index)
          currentIndex = index
        }
        const within = pos % MIB
        const n = Math.min(chunk.length - offset, MIB - within)
        if (!chunk.subarray(offset, offset + n).equals(current.subarray(within, within + n))) {
          return callback(new Error(`${entry}: bytes differ at ${pos}`))
        }
        offset += n
        pos += n
      }
      callback()
    },
  })
  sink.bytes = () => pos
  return sink
}

test(`${GIB} GiB of known size and ${GIB} GiB of unknown size through pack -> gzip -> extract`, async () => {
  const rssBefore = process.memoryUsage().rss
  let peak = rssBefore
  const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 100)
  const stagingDir = tmpdir('bn-large-')

  const p = lib.pack({ gzip: { level: 1 }, stagingDir })
  const writing = (async () => {
    await pipeline(generated('known', ENTRY_BYTES), p.entry({ name: 'known.bin', size: ENTRY_BYTES }))
    await pipeline(generated('unknown', ENTRY_BYTES), p.entry({ name: 'db.txt' }))
    p.finalize()
  })()

  const seen = []
  const ex = lib.extract({ policy: 'strict' })
  ex.on('entry', (header, stream, next) => {
    const check = verifier(header.name === 'known.bin' ? 'known' : 'unknown')
    pipeline(stream, check).then(() => {
      seen.push([header.name, header.size, check.bytes()])
      next()
    }, next)
  })
  let compressed = 0
  const counter = new (require('node:stream').Transform)({
    transform(chunk, e, cb) {
      compressed += chunk.length
      cb(null, chunk)
    },
  })
  await Promise.all([writing, pipeline(p, counter, ex)])
  clearInterval(sampler)
  peak = Math.max(peak, process.memoryUsage().rss)

  expect(seen).toEqual([
    ['known.bin', ENTRY_BYTES, ENTRY_BYTES],
    ['db.txt', ENTRY_BYTES, ENTRY_BYTES],
  ])
  expect(require('node:fs').readdirSync(stagingDir)).toEqual([])
  const growth = (peak - rssBefore) / MIB
  process.stdout.write(
    `large: ${2 * GIB} GiB in, ${(compressed / MIB).toFixed(0)} MiB gzip, RSS ${(rssBefore / MIB).toFixed(0)} -> peak ${(peak / MIB).toFixed(0)} MiB (+${growth.toFixed(0)})\n`,
  )
  expect(growth).toBeLessThan(256)
}, 1800000)

test('an import of 400 entries over 1 MiB each holds memory flat', async () => {
  const FILES = 400
  const SIZE = 2 * MIB
  const files = Array.from({ length: FILES }, (_, i) => ({ name: `attachments/${i}.bin`, size: SIZE, stream: () => generated(`f${i}`, SIZE) }))
  const archive = lib.createAppExport({ db: Readable.from(['{"version":1}\n']), files, level: 1 })
  const rssBefore = process.memoryUsage().rss
  let peak = rssBefore
  const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 50)
  let checked = 0
  try {
    const summary = await lib.importAppExport(archive, {
      onDb: async (dump) => {
        for await (const c of dump) void c
      },
      onFile: async (name, data) => {
        const check = verifier(`f${name.slice('attachments/'.length, -'.bin'.length)}`)
        await pipeline(data, check)
        if (check.bytes() === SIZE) checked++
      },
    })
    expect([summary.files, checked]).toEqual([FILES, FILES])
  } finally {
    clearInterval(sampler)
  }
  // Each large entry's first MiB was once kept until the import ended: +400 MiB here.
  expect((peak - rssBefore) / MIB).toBeLessThan(200)
}, 600000)
