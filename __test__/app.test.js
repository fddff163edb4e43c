'use strict'

const crypto = require('node:crypto')
const fs = require('node:fs')
const path = require('node:path')
const zlib = require('node:zlib')
const { Readable } = require('node:stream')
const nodeTar = require('tar')
const { createAppExport, importAppExport } = require('..')
const { collect, rejection, run, tmpdir, rng, openFds, nodeEncrypt, nodeDecrypt } = require('./helpers')

// A generated app: an ndjson dump of unknown size, small text files, binary attachments.
function makeApp({ docs = 20000, small = 300, attachments = 5 } = {}) {
  const next = rng(11)
  const files = []
  for (let i = 0; i < small; i++) {
    files.push({ name: `chunks/chunk-${i}.js`, data: Buffer.from(`export const v${i} = ${JSON.stringify('x'.repeat(Math.floor(next() * 2000)))}\n`) })
  }
  files.push({ name: 'manifest.json', data: Buffer.from(JSON.stringify({ screens: small })) })
  for (let i = 0; i < attachments; i++) files.push({ name: `attachments/${crypto.randomUUID()}.jpg`, data: crypto.randomBytes(200000 + i) })
  const dumpLines = [JSON.stringify({ version: 1, db_type: 'couchdb', start_time: 'now', db_info: {} })]
  for (let i = 0; i < docs; i += 100) {
    const batch = []
    for (let j = i; j < i + 100; j++) batch.push({ _id: `doc_${j}`, _rev: `1-${j}`, value: next().toString(36) })
    dumpLines.push(JSON.stringify({ docs: batch }), JSON.stringify({ seq: i }))
  }
  const dump = Buffer.from(dumpLines.join('\n') + '\n')
  return { dump, files }
}

// The dump as a replication stream would give it: many pieces, no size.
function dumpStream(dump) {
  let pos = 0
  return new Readable({
    read() {
      const n = 10000
      this.push(pos < dump.length ? dump.subarray(pos, (pos += n)) : null)
    },
  })
}

function exportOptions(app, extra = {}) {
  return {
    db: () => dumpStream(app.dump),
    files: app.files.map((f, i) => ({
      name: f.name,
      size: i % 2 ? f.data.length : undefined,
      stream: () => Readable.from([f.data]),
    })),
    ...extra,
  }
}

async function importAll(source, options = {}) {
  const got = { db: null, files: new Map() }
  const summary = await importAppExport(source, {
    ...options,
    onDb: async (dump) => (got.db = await collect(dump)),
    onFile: async (name, data, info) => {
      const bytes = await collect(data)
      if (info.size !== undefined) expect(info.size).toBe(bytes.length)
      got.files.set(name, bytes)
    },
  })
  return { summary, ...got }
}

function expectSameApp(got, app) {
  expect(got.db.equals(app.dump)).toBe(true)
  expect([...got.files.keys()].sort()).toEqual(app.files.map((f) => f.name).sort())
  for (const f of app.files) expect([f.name, got.files.get(f.name).equals(f.data)]).toEqual([f.name, true])
}


const app = makeApp()

describe('createAppExport -> importAppExport', () => {
  test.each([
    ['plain', {}, 'tar.gz', false],
    ['per-file encryption', { password: 'pässword' }, 'tar.gz', true],
    ['whole-archive encryption', { password: 'pw', encryption: 'archive' }, 'encrypted-archive', true],
  ])('%s round trips every byte', async (label, extra, format, encrypted) => {
    const progress = []
    const bytes = await collect(createAppExport(exportOptions(app, { ...extra, level: 1, onProgress: (p) => progress.push(p) })))
    const got = await importAll(bytes, { password: extra.password })
    expectSameApp(got, app)
    expect(got.summary).toMatchObject({ format, encrypted, files: app.files.length, dbBytes: app.dump.length })
    expect(progress.at(-1).entries).toBe(app.files.length + 1)
  })

  test('per-file export: GNU tar lists it, Node crypto+zlib decrypts every .enc entry', async () => {
    const bytes = await collect(createAppExport(exportOptions(app, { password: 'secret' })))
    const dir = tmpdir('bn-app-')
    fs.writeFileSync(path.join(dir, 'export.enc.tar.gz'), bytes)
    const names = run('tar', ['-tzf', path.join(dir, 'export.enc.tar.gz')]).toString().trim().split('\n')
    expect(names[0]).toBe('db.txt.enc')
    expect(names.filter((n) => n.startsWith('attachments/')).every((n) => !n.endsWith('.enc'))).toBe(true)
    fs.mkdirSync(path.join(dir, 'x'))
    run('tar', ['-xzf', path.join(dir, 'export.enc.tar.gz'), '-C', path.join(dir, 'x')])
    expect(nodeDecrypt(fs.readFileSync(path.join(dir, 'x/db.txt.enc')), 'secret').equals(app.dump)).toBe(true)
    const manifest = app.files.find((f) => f.name === 'manifest.json')
    expect(nodeDecrypt(fs.readFileSync(path.join(dir, 'x/manifest.json.enc')), 'secret').equals(manifest.data)).toBe(true)
    const attachment = app.files.find((f) => f.name.startsWith('attachments/'))
    expect(fs.readFileSync(path.join(dir, 'x', attachment.name)).equals(attachment.data)).toBe(true)
  })

  test('whole-archive export: Node crypto+zlib decrypts it to a tar.gz body that GNU tar and Python read', async () => {
    const bytes = await collect(createAppExport(exportOptions(app, { password: 'secret', encryption: 'archive' })))
    const dir = tmpdir('bn-app-')
    const tarFile = path.join(dir, 'export.tar')
    fs.writeFileSync(tarFile, nodeDecrypt(bytes, 'secret'))
    const names = run('tar', ['-tf', tarFile]).toString().trim().split('\n')
    expect(names).toEqual(['db.txt', ...app.files.map((f) => f.name)])
    const py = run('python3', ['-c', 'import sys, tarfile; print(len(tarfile.open(sys.argv[1]).getnames()))', tarFile])
    expect(Number(py)).toBe(app.files.length + 1)
  })

  test('an export written the old way (node-tar, directories, any order, Node envelopes) imports', async () => {
    const dir = tmpdir('bn-old-')
    const root = path.join(dir, 'app')
    for (const f of app.files) {
      const encrypted = !f.name.startsWith('attachments/')
      const target = path.join(root, encrypted ? `${f.name}.enc` : f.name)
      fs.mkdirSync(path.dirname(target), { recursive: true })
      fs.writeFileSync(target, encrypted ? nodeEncrypt(f.data, 'old') : f.data, { mode: 0o600 })
    }
    fs.writeFileSync(path.join(root, 'db.txt.enc'), nodeEncrypt(app.dump, 'old'))
    fs.writeFileSync(path.join(root, 'global.txt'), 'not an object')
    const file = path.join(dir, 'old.tar.gz')
    await nodeTar.c({ gzip: true, file, cwd: root }, fs.readdirSync(root))
    const got = await importAll(file, { password: 'old' })
    expectSameApp(got, app)
    expect(got.summary.encrypted).toBe(true)
  })

  test('small envelopes: opened whole, streamed when they expand past 1 MiB, a damaged one named', async () => {
    // Node-made envelopes, each under its own salt, as old exports have them.
    const expands = Buffer.alloc(3 << 20, 'a') // a few KiB sealed
    const small = crypto.randomBytes(5000)
    const entries = [
      ['db.txt.enc', nodeEncrypt(app.dump.subarray(0, 100000), 'pw')],
      ['chunks/expands.txt.enc', nodeEncrypt(expands, 'pw')],
      ['chunks/small.bin.enc', nodeEncrypt(small, 'pw')],
      ['chunks/empty.txt.enc', nodeEncrypt(Buffer.alloc(0), 'pw')],
    ]
    const archive = async (list) => {
      const pack = require('..').pack({ gzip: true })
      for (const [name, data] of list) pack.entry({ name }, data)
      pack.finalize()
      return collect(pack)
    }
    const got = await importAll(await archive(entries), { password: 'pw' })
    expect(got.db.equals(app.dump.subarray(0, 100000))).toBe(true)
    expect(got.files.get('chunks/expands.txt').equals(expands)).toBe(true)
    expect(got.files.get('chunks/small.bin').equals(small)).toBe(true)
    expect(got.files.get('chunks/empty.txt').length).toBe(0)
    expect(got.summary).toMatchObject({ encrypted: true, files: 3 })

    const damaged = Buffer.from(entries[2][1])
    damaged[damaged.length - 3] ^= 0xff // in the gzip trailer: the ciphertext decrypts, the check fails
    const err = await rejection(importAll(await archive([entries[0], ['chunks/small.bin.enc', damaged]]), { password: 'pw' }))
    expect(err).toBeInstanceOf(Error)
    expect(err.code).toMatch(/^E_/)
    expect(err.entryName).toBe('chunks/small.bin')
  })

  test('small envelopes sharing a key are opened by the extractor; ones under their own salts mostly by the importer', async () => {
    const native = require('../binding.js')
    const opens = jest.spyOn(native, 'decryptSmallWithCache')
    try {
      const ours = await collect(createAppExport(exportOptions(app, { password: 'pw' })))
      expectSameApp(await importAll(ours, { password: 'pw' }), app)
      // Only the dump, whose plaintext runs past the 1 MiB of an entry opened whole, is tried again to be streamed.
      expect(app.dump.length).toBeGreaterThan(1 << 20)
      expect(opens.mock.calls.length).toBe(1)

      const own = app.files.slice(0, 20).map((f) => [`${f.name}.enc`, nodeEncrypt(f.data, 'pw')])
      const pack = require('..').pack({ gzip: true })
      pack.entry({ name: 'db.txt' }, app.dump)
      for (const [name, data] of own) pack.entry({ name }, data)
      pack.finalize()
      const got = await importAll(await collect(pack), { password: 'pw' })
      for (const f of app.files.slice(0, 20)) expect([f.name, got.files.get(f.name).equals(f.data)]).toEqual([f.name, true])
      // A PBKDF2 each: a few in the extractor's thread, the rest several at once on the pool.
      expect(opens.mock.calls.length).toBeGreaterThan(0)
      expect(opens.mock.calls.length).toBeLessThan(own.length)
    } finally {
      opens.mockRestore()
    }
  })

  test('a bare dump and an enveloped bare dump are detected', async () => {
    const plain = await importAll(app.dump)
    expect(plain.summary.format).toBe('db')
    expect(plain.db.equals(app.dump)).toBe(true)
    const enc = await importAll(nodeEncrypt(app.dump, 'pw'), { password: 'pw' })
    expect(enc.summary).toMatchObject({ format: 'encrypted-db', encrypted: true })
    expect(enc.db.equals(app.dump)).toBe(true)
  })

  test('an archive given by path is read straight from the file: every byte; a cut file refused, an abort honoured, the file closed', async () => {
    const big = makeApp({ small: 50, attachments: 24 }) // ~5 MB that does not compress: several reads
    const dir = tmpdir('bn-path-')
    const file = path.join(dir, 'export.tar.gz')
    const bytes = await collect(createAppExport(exportOptions(big, { level: 1 })))
    fs.writeFileSync(file, bytes)
    const fds = openFds()
    const got = await importAll(file)
    expectSameApp(got, big)
    expect(got.summary).toMatchObject({ format: 'tar.gz', files: big.files.length })
    const cut = path.join(dir, 'cut.tar.gz')
    fs.writeFileSync(cut, bytes.subarray(0, bytes.length - 300000))
    expect((await rejection(importAll(cut))).code).toBe('E_TRUNCATED')
    const controller = new AbortController()
    const onFile = async (name, data) => {
      controller.abort()
      await collect(data)
    }
    const aborted = await rejection(importAppExport(file, { signal: controller.signal, onDb: collect, onFile }))
    expect(aborted.code).toBe('E_ABORTED')
    expect(openFds()).toBe(fds)
  })
})

describe('the backend messages', () => {
  const small = makeApp({ docs: 100, small: 3, attachments: 1 })

  test('encrypted entries without a password', async () => {
    const bytes = await collect(createAppExport(exportOptions(small, { password: 'pw' })))
    const err = await rejection(importAll(bytes))
    expect(err).toBeInstanceOf(Error)
    expect([err.code, err.message]).toEqual(['E_PASSWORD_REQUIRED', 'Files are encrypted but no password has been supplied.'])
  })

  test('a wrong password fails before the entry reaches a callback', async () => {
    const bytes = await collect(createAppExport(exportOptions(small, { password: 'pw' })))
    const seen = []
    const err = await rejection(
      importAppExport(bytes, { password: 'nope', onDb: async (s) => seen.push('db', await collect(s)), onFile: async (n) => seen.push(n) }),
    )
    expect([err.code, err.message]).toEqual(['E_BAD_PASSWORD', 'File cannot be imported'])
    expect(seen).toEqual([])
  })

  test('a plugin and an archive without db.txt', async () => {
    const pack = require('..').pack({ gzip: true })
    pack.entry({ name: 'plugin.min.js' }, 'x')
    pack.finalize()
    const plugin = await rejection(importAll(await collect(pack)))
    expect([plugin.code, plugin.message]).toEqual(['E_IS_PLUGIN', 'Supplied file is a plugin - cannot import as app.'])

    const nodb = require('..').pack({ gzip: true })
    nodb.entry({ name: 'manifest.json' }, '{}')
    nodb.finalize()
    const err = await rejection(importAll(await collect(nodb)))
    expect([err.code, err.message]).toEqual(['E_NO_DB_FILE', 'App export does not appear to be valid - no DB file found.'])
    expect(err.delivered).toEqual(['manifest.json'])
  })

  test('a failing source and a wrong declared size fail the export with the entry name', async () => {
    const failing = exportOptions(small)
    failing.files[1].stream = () =>
      new Readable({
        read() {
          this.destroy(new Error('object store said 500'))
        },
      })
    const err = await rejection(collect(createAppExport(failing)))
    expect([err.code, err.entryName]).toEqual(['E_SOURCE_ERROR', small.files[1].name])
    const wrong = exportOptions(small)
    wrong.files[0].size = small.files[0].data.length + 1
    const mismatch = await rejection(collect(createAppExport(wrong)))
    expect([mismatch.code, mismatch.entryName]).toEqual(['E_SIZE_MISMATCH', small.files[0].name])
  })

  test('a failing callback aborts the import and propagates, with what was delivered', async () => {
    const bytes = await collect(createAppExport(exportOptions(small)))
    const boom = new Error('store is down')
    const err = await rejection(
      importAppExport(bytes, {
        onDb: (s) => collect(s),
        onFile: async (name, data) => {
          await collect(data)
          if (name === small.files[2].name) throw boom
        },
        concurrency: 1,
      }),
    )
    expect(err).toBe(boom)
    expect(err.delivered).toEqual(expect.arrayContaining(['db.txt', small.files[0].name]))
  })

  test('at most `concurrency` files are in flight, and the import waits for the last of them', async () => {
    const many = makeApp({ docs: 100, small: 40, attachments: 2 })
    const bytes = await collect(createAppExport(exportOptions(many)))
    let inFlight = 0
    let most = 0
    const done = []
    const summary = await importAppExport(bytes, {
      onDb: (s) => collect(s),
      onFile: async (name, data) => {
        most = Math.max(most, ++inFlight)
        await collect(data)
        await new Promise((resolve) => setTimeout(resolve, done.length % 3))
        inFlight--
        done.push(name)
      },
      concurrency: 3,
    })
    expect([most, inFlight]).toEqual([3, 0])
    expect(done.sort()).toEqual(many.files.map((f) => f.name).sort())
    expect(summary.files).toBe(many.files.length)
  })

  test('onFile may return nothing or throw synchronously, for small and streamed entries alike', async () => {
    const bytes = await collect(createAppExport(exportOptions(small)))
    const names = []
    const summary = await importAppExport(bytes, {
      onDb: (s) => collect(s),
      onFile: (name, data) => {
        names.push(name)
        data.resume()
      },
    })
    expect(names.sort()).toEqual(small.files.map((f) => f.name).sort())
    expect(summary.files).toBe(small.files.length)

    // Entries up to 1 MiB come whole, larger ones stream: a throw from either is the import's error.
    const large = makeApp({ docs: 100, small: 2, attachments: 0 })
    large.files.push({ name: 'attachments/large.bin', data: crypto.randomBytes(3 << 20) })
    const largeBytes = await collect(createAppExport(exportOptions(large)))
    for (const thrower of [small.files[0].name, 'attachments/large.bin']) {
      const boom = new Error(`cannot store ${thrower}`)
      const err = await rejection(
        importAppExport(thrower === 'attachments/large.bin' ? largeBytes : bytes, {
          onDb: (s) => collect(s),
          onFile: (name, data) => {
            if (name === thrower) throw boom
            return collect(data)
          },
        }),
      )
      expect(err).toBe(boom)
    }
  })

  test('a name the importer would reject is refused at export', async () => {
    const options = exportOptions(small)
    options.files[0].name = '../escape.js'
    expect((await rejection(collect(createAppExport(options)))).code).toBe('E_PATH_TRAVERSAL')
  })

  test('abort in the middle of an export and of an import', async () => {
    const controller = new AbortController()
    const big = makeApp({ docs: 100000, small: 10, attachments: 0 })
    const stream = createAppExport(exportOptions(big, { signal: controller.signal }))
    let seen = 0
    stream.on('data', (c) => {
      seen += c.length
      if (seen > 1000) controller.abort()
    })
    expect((await rejection(collect(stream))).code).toBe('E_ABORTED')

    const bytes = await collect(createAppExport(exportOptions(big, { level: 1 })))
    const importAbort = new AbortController()
    const err = await rejection(
      importAppExport(bytes, {
        signal: importAbort.signal,
        onDb: async (dump) => {
          for await (const c of dump) {
            void c
            importAbort.abort()
          }
        },
        onFile: (n, d) => collect(d),
      }),
    )
    expect(err.code).toBe('E_ABORTED')
  })
})

describe('scale', () => {
  test('2000 small files and a 200 MB dump of unknown size, streamed both ways', async () => {
    const MB = 1e6
    const line = Buffer.from(JSON.stringify({ docs: [{ _id: 'doc', _rev: '1-abc', body: 'x'.repeat(200) }] }) + '\n')
    const dumpSize = Math.floor((200 * MB) / line.length) * line.length
    const sent = crypto.createHash('sha256')
    let produced = 0
    const dump = new Readable({
      read() {
        if (produced >= dumpSize) return this.push(null)
        const piece = Buffer.concat(Array(256).fill(line))
        const n = Math.min(piece.length, dumpSize - produced)
        produced += n
        sent.update(piece.subarray(0, n))
        this.push(piece.subarray(0, n))
      },
    })
    const files = []
    for (let i = 0; i < 2000; i++) files.push({ name: `chunks/${String(i).padStart(4, '0')}.js`, data: Buffer.from(`module.exports = ${i}\n`) })
    const archive = createAppExport({
      db: dump,
      files: files.map((f) => ({ name: f.name, size: f.data.length, stream: () => Readable.from([f.data]) })),
      level: 1,
    })
    const received = crypto.createHash('sha256')
    let dbBytes = 0
    const got = new Map()
    const summary = await importAppExport(archive, {
      onDb: async (s) => {
        for await (const c of s) {
          received.update(c)
          dbBytes += c.length
        }
      },
      onFile: async (name, data) => got.set(name, await collect(data)),
    })
    expect(dbBytes).toBe(dumpSize)
    expect(received.digest('hex')).toBe(sent.digest('hex'))
    expect(summary).toMatchObject({ format: 'tar.gz', files: 2000, dbBytes: dumpSize })
    for (const f of files) expect(got.get(f.name).equals(f.data)).toBe(true)
  }, 300000)
})

describe('sources', () => {
  test('lazy sources are opened just ahead of the entry being written, never all at once', async () => {
    let open = 0
    let maxOpen = 0
    const files = []
    for (let i = 0; i < 50; i++) {
      files.push({
        name: `chunks/${i}.js`,
        stream: () => {
          open++
          maxOpen = Math.max(maxOpen, open)
          const s = Readable.from([Buffer.from(`file ${i}`)])
          s.on('close', () => open--)
          return s
        },
      })
    }
    const bytes = await collect(createAppExport({ db: Readable.from([Buffer.from('{}\n')]), files }))
    expect(maxOpen).toBeGreaterThan(0)
    expect(maxOpen).toBeLessThanOrEqual(3)
    const got = await importAll(bytes)
    expect(got.files.size).toBe(50)
  })
})
