'use strict'

const fs = require('node:fs')
const path = require('node:path')
const zlib = require('node:zlib')
const tarStream = require('tar-stream')
const { pack, extract } = require('..')
const { chunkings, collect, rejection, run, rng, tmpdir, listArchive, fromChunks, openFds } = require('./helpers')

const LONG = 'deep/' + 'a-very-long-directory-name/'.repeat(6) + 'file-with-a-long-name.txt'
const UNICODE = 'données/résumé ✓ 日本語.txt'

// A folder with what real archives carry: long and non-ASCII names, directories, a symlink, an empty file.
function makeTree() {
  const dir = tmpdir('bn-tree-')
  const files = {
    'db.txt': '{"version":1}\n'.repeat(500),
    [LONG]: 'long',
    [UNICODE]: 'unicode',
    'attachments/empty.bin': '',
    'attachments/photo.jpg': require('node:crypto').randomBytes(70000),
  }
  for (const [name, data] of Object.entries(files)) {
    fs.mkdirSync(path.join(dir, path.dirname(name)), { recursive: true })
    fs.writeFileSync(path.join(dir, name), data)
  }
  fs.symlinkSync('db.txt', path.join(dir, 'link-to-db'))
  return dir
}

const python = (script, ...args) => run('python3', ['-c', script, ...args])

// Python tarfile's view of an archive: name (no trailing slash), type, size, linkname.
function pythonListing(file) {
  const script = `
import json, sys, tarfile
out = []
with tarfile.open(sys.argv[1]) as t:
    for m in t:
        kind = 'file' if m.isreg() else 'directory' if m.isdir() else 'symlink' if m.issym() else 'link' if m.islnk() else 'other'
        out.append([m.name, kind, m.size if m.isreg() else 0, m.linkname or None])
print(json.dumps(out))`
  return JSON.parse(python(script, file))
}

function ourListing(entries) {
  return entries.map((e) => [e.name.replace(/\/$/, '').replace(/^\.\//, ''), e.type, e.type === 'file' ? e.size : 0, e.linkname])
}

function gnuNames(file) {
  return run('tar', ['--quoting-style=literal', '-tf', file]).toString().trim().split('\n')
}

describe('archives from other tools -> our extract', () => {
  const tree = makeTree()
  const out = tmpdir('bn-archives-')
  const archives = {}
  for (const format of ['ustar', 'pax', 'gnu']) {
    const names = ['db.txt', 'attachments', 'link-to-db', UNICODE.split('/')[0]]
    if (format !== 'ustar') names.push('deep')
    const file = path.join(out, `gnu-${format}.tar`)
    run('tar', [`--format=${format}`, '-cf', file, '-C', tree, ...names])
    archives[`GNU tar --format=${format}`] = file
  }
  run('tar', ['--format=pax', '-czf', path.join(out, 'gnu.tgz'), '-C', tree, '.'])
  archives['GNU tar -z of "."'] = path.join(out, 'gnu.tgz')
  for (const format of ['USTAR_FORMAT', 'GNU_FORMAT', 'PAX_FORMAT']) {
    const file = path.join(out, `py-${format}.tar.gz`)
    python(
      `import sys, tarfile\nwith tarfile.open(sys.argv[1], 'w:gz', format=tarfile.${format}) as t: t.add(sys.argv[2], arcname='.')`,
      file,
      tree,
    )
    archives[`Python tarfile ${format}`] = file
  }

  // Our listing of `file`, in every chunking, equals Python tarfile's and GNU tar's.
  async function expectListingsAgree(file) {
    const bytes = fs.readFileSync(file)
    const expected = pythonListing(file).map(([n, ...rest]) => [n.replace(/^\.\//, ''), ...rest]).filter(([n]) => n !== '.')
    const gnu = gnuNames(file)
    let first
    for (const [how, chunks] of chunkings(bytes, 40000)) {
      const entries = await listArchive(extract(), chunks)
      const listing = ourListing(entries).filter(([n]) => n !== '.' && n !== '')
      expect([how, listing]).toEqual([how, expected])
      expect(entries.map((e) => e.name)).toEqual(gnu)
      if (first) expect(entries).toEqual(first)
      first = entries
    }
    return first
  }

  test.each(Object.keys(archives))('%s: listing equals Python tarfile and GNU tar', async (label) => {
    const first = await expectListingsAgree(archives[label])
    const db = first.find((e) => e.name.replace(/^\.\//, '') === 'db.txt')
    expect(db.data.equals(fs.readFileSync(path.join(tree, 'db.txt')))).toBe(true)
    const photo = first.find((e) => e.name.endsWith('photo.jpg'))
    expect(photo.data.equals(fs.readFileSync(path.join(tree, 'attachments/photo.jpg')))).toBe(true)
  })

  test('a tar-stream archive: listing equals Python tarfile and GNU tar', async () => {
    const p = tarStream.pack()
    p.entry({ name: LONG }, 'long name')
    p.entry({ name: UNICODE }, 'unicode')
    p.entry({ name: 'empty.txt' }, '')
    p.entry({ name: 'dir', type: 'directory' })
    p.entry({ name: `dir/${'deeper/'.repeat(20)}`, type: 'directory' })
    p.entry({ name: 'dir/link', type: 'symlink', linkname: '../x' })
    p.entry({ name: `dir/${'ü'.repeat(60)}.txt` }, 'non-ASCII long')
    p.finalize()
    const file = path.join(out, 'tar-stream.tar')
    fs.writeFileSync(file, await collect(p))
    const entries = await expectListingsAgree(file)
    expect(ourListing(entries).slice(0, 4)).toEqual([
      [LONG, 'file', 9, null],
      [UNICODE, 'file', 7, null],
      ['empty.txt', 'file', 0, null],
      ['dir', 'directory', 0, null],
    ])
  })
})

describe('our pack -> other tools', () => {
  async function ourArchive(options) {
    const p = pack(options)
    const mtime = new Date('2024-05-06T07:08:09Z')
    p.entry({ name: 'db.txt', mtime }, 'dump\n'.repeat(1000))
    p.entry({ name: 'attachments', type: 'directory', mtime })
    const s = p.entry({ name: 'attachments/unknown-size.bin', mtime })
    s.write(Buffer.alloc(200000, 7))
    s.end(Buffer.from('end'))
    p.entry({ name: LONG, mtime, size: 4 }, Buffer.from('long'))
    p.entry({ name: UNICODE, mtime }, 'unicode')
    p.entry({ name: 'empty', mtime }, Buffer.alloc(0))
    p.entry({ name: 'link', type: 'symlink', linkname: 'db.txt', mtime })
    p.finalize()
    return collect(p)
  }
  const expectedListing = [
    ['db.txt', 'file', 5000, null],
    ['attachments', 'directory', 0, null],
    ['attachments/unknown-size.bin', 'file', 200003, null],
    [LONG, 'file', 4, null],
    [UNICODE, 'file', 7, null],
    ['empty', 'file', 0, null],
    ['link', 'symlink', 0, 'db.txt'],
  ]

  test.each([false, true])('gzip %s: GNU tar, Python and tar-stream read it', async (gzip) => {
    const bytes = await ourArchive({ gzip })
    expect(bytes[0] === 0x1f && bytes[1] === 0x8b).toBe(gzip)
    const dir = tmpdir('bn-ours-')
    const file = path.join(dir, gzip ? 'a.tgz' : 'a.tar')
    fs.writeFileSync(file, bytes)
    expect(pythonListing(file)).toEqual(expectedListing)
    expect(gnuNames(file)).toEqual(expectedListing.map(([n, t]) => (t === 'directory' ? n + '/' : n)))
    const verbose = run('tar', ['-tvf', file]).toString()
    expect(verbose).toMatch(/2024-05-06 07:08/)
    const target = path.join(dir, 'x')
    fs.mkdirSync(target)
    run('tar', ['-xf', file, '-C', target])
    expect(fs.readFileSync(path.join(target, 'attachments/unknown-size.bin')).length).toBe(200003)
    expect(fs.readFileSync(path.join(target, LONG), 'utf8')).toBe('long')
    expect(fs.readFileSync(path.join(target, UNICODE), 'utf8')).toBe('unicode')
    expect(fs.readlinkSync(path.join(target, 'link'))).toBe('db.txt')

    const ex = tarStream.extract()
    const seen = []
    ex.on('entry', (h, stream, next) => {
      collect(stream).then((data) => {
        seen.push([h.name, h.type, data.length, h.linkname || null])
        next()
      })
    })
    await new Promise((resolve, reject) => {
      ex.on('finish', resolve).on('error', reject)
      ex.end(gzip ? zlib.gunzipSync(bytes) : bytes)
    })
    expect(seen).toEqual(expectedListing.map(([n, t, s, l]) => [t === 'directory' ? n + '/' : n, t, t === 'file' ? s : 0, l]))
  })

  test('round trip through our extract keeps every header field', async () => {
    const entries = await listArchive(extract(), [await ourArchive({ gzip: { level: 1 } })])
    expect(ourListing(entries)).toEqual(expectedListing)
    const p = pack()
    const mtime = new Date('2020-01-02T03:04:05Z')
    p.entry({ name: 'x', mode: 0o600, uid: 1000, gid: 1001, uname: 'app', gname: 'staff', mtime, pax: { comment: 'hi' } }, 'x')
    p.finalize()
    const bytes = await collect(p)
    const ex = extract()
    const header = await new Promise((resolve, reject) => {
      ex.on('entry', (h, stream, next) => {
        stream.resume()
        next()
        resolve(h)
      })
      ex.on('error', reject)
      ex.end(bytes)
    })
    expect(header).toMatchObject({ name: 'x', mode: 0o600, uid: 1000, gid: 1001, uname: 'app', gname: 'staff', size: 1, type: 'file', linkname: null })
    expect(header.mtime).toEqual(mtime)
    expect(header.pax).toEqual({ comment: 'hi' })
  })
})

describe('many small entries', () => {
  // Python writes 1505 entries: sizes from 0 up to past the 64 KiB under which pieces share
  // one native Buffer, owners with and without ids and names, devices, links, PAX records, and
  // names that JSON escapes (the events reach JS as JSON).
  const file = path.join(tmpdir('bn-small-'), 'small.tar.gz')
  python(
    `
import io, random, sys, tarfile
r = random.Random(5)
with tarfile.open(sys.argv[1], 'w:gz', format=tarfile.PAX_FORMAT) as t:
    for i in range(1500):
        m = tarfile.TarInfo(f'files/{i:04d}-{"é" * (i % 3)}.json')
        size = r.choice([0, 1, 511, 512, 513, 65535, 65536, 65537]) if i % 10 == 0 else r.randrange(0, 3000 if i % 7 else 70000)
        m.size, m.mode, m.mtime = size, r.choice([0o644, 0o600, 0o755]), 1700000000 + i
        m.uid, m.gid = (0, 0) if i % 2 else (r.randrange(1, 70000), r.randrange(1, 70000))
        m.uname, m.gname = ('', '') if i % 3 else ('user%d' % i, 'group')
        if i % 250 == 0: m.pax_headers = {'comment': f'entry {i}'}
        if i % 100 == 1:
            m.type, m.size, m.devmajor, m.devminor = tarfile.CHRTYPE, 0, 1, i % 256
        if i % 100 == 2:
            m.type, m.size, m.linkname = tarfile.SYMTYPE, 0, f'../target-{i}'
        t.addfile(m, io.BytesIO(r.randbytes(m.size)))
    for name in ['quote"back\\\\slash', 'new\\nline', 'line\\u2028separator', 'emoji\\U0001F600', 'tab\\tand\\x01control']:
        m, data = tarfile.TarInfo(f'odd/{name}.txt'), name.encode()
        m.size = len(data)
        t.addfile(m, io.BytesIO(data))
`,
    file,
  )

  // Every entry as tar-stream reads it: its header's fields and its bytes.
  async function tarStreamEntries(bytes) {
    const entries = []
    const ex = tarStream.extract()
    ex.on('entry', (header, stream, next) => {
      const chunks = []
      stream.on('data', (c) => chunks.push(c))
      stream.on('end', () => {
        entries.push({ ...header, data: Buffer.concat(chunks) })
        next()
      })
    })
    await require('node:stream/promises').pipeline(fromChunks([zlib.gunzipSync(bytes)]), ex)
    return entries
  }

  test('every header field and byte as tar-stream reads them, in every chunking', async () => {
    const bytes = fs.readFileSync(file)
    const fields = ['name', 'mode', 'uid', 'gid', 'size', 'mtime', 'type', 'linkname', 'uname', 'gname', 'devmajor', 'devminor']
    const pick = (e) => Object.fromEntries([...fields.map((f) => [f, e[f]]), ['data', e.data.toString('hex')], ['pax', e.pax?.comment]])
    const expected = (await tarStreamEntries(bytes)).map(pick)
    expect(expected.length).toBe(1505)
    expect(expected.slice(-5).map((e) => e.name)).toContain('odd/new\nline.txt')
    expect(expected.filter((e) => e.size >= 64 * 1024).length).toBeGreaterThan(5)
    for (const [how, chunks] of chunkings(bytes)) {
      const entries = []
      const ex = extract()
      ex.on('entry', (header, stream, next) => {
        collect(stream).then((data) => {
          entries.push(pick({ ...header, data }))
          next()
        }, next)
      })
      await require('node:stream/promises').pipeline(fromChunks(chunks), ex)
      expect([how, entries.length]).toEqual([how, expected.length])
      entries.forEach((e, i) => expect([how, e]).toEqual([how, expected[i]]))
    }
  })

  test('timers keep running while thousands of small entries settle', async () => {
    // 3000 entries whose consumer takes 30 us each: about 90 ms of work on the JS thread, which
    // arrives in a few native steps. Timers must get turns inside those steps, not only between.
    const pack3000 = tarStream.pack()
    for (let i = 0; i < 3000; i++) pack3000.entry({ name: `f/${i}.json` }, `{"i":${i}}`)
    pack3000.finalize()
    const bytes = zlib.gzipSync(await collect(pack3000))
    const busy = (us) => {
      const end = process.hrtime.bigint() + BigInt(us * 1000)
      while (process.hrtime.bigint() < end);
    }
    let ticks = 0
    let running = true
    const tick = () => running && (ticks++, setTimeout(tick, 1))
    setTimeout(tick, 1)
    const started = process.hrtime.bigint()
    let count = 0
    const ex = extract()
    ex.on('entry', (header, stream, next) => {
      busy(30)
      count++
      stream.resume()
      stream.on('end', next)
    })
    await require('node:stream/promises').pipeline(fromChunks([bytes]), ex)
    running = false
    const ms = Number(process.hrtime.bigint() - started) / 1e6
    expect(count).toBe(3000)
    // A timer at least every 3 ms of that work (about one a millisecond is what it gets).
    expect(ticks).toBeGreaterThan(ms / 3)
  })
})

describe('sizes', () => {
  test('a declared size the data does not match is E_SIZE_MISMATCH, never a corrupt archive', async () => {
    for (const [declared, data] of [
      [10, 'elevenbytes'],
      [10, 'nine byte'],
    ]) {
      const p = pack()
      const s = p.entry({ name: 'a', size: declared })
      s.on('error', () => {})
      s.end(data)
      const err = await rejection(collect(p))
      expect(err).toBeInstanceOf(Error)
      expect(err.code).toBe('E_SIZE_MISMATCH')
    }
    const p = pack()
    p.entry({ name: 'a', size: 3 }, 'four', () => {})
    expect((await rejection(collect(p))).code).toBe('E_SIZE_MISMATCH')
  })

  test('streamed entries written in uneven chunks, several gathered per native call, read back whole by GNU tar', async () => {
    const dir = tmpdir('bn-chunks-')
    const data = Buffer.concat([require('node:crypto').randomBytes(1 << 20), Buffer.from('text row\n'.repeat(150000))])
    const pieces = []
    const next = rng(11)
    for (let i = 0; i < data.length; ) {
      const n = Math.min(data.length - i, [1, 4096, 65536, 300001][Math.floor(next() * 4)])
      pieces.push(data.subarray(i, i + n))
      i += n
    }
    for (const gzip of [false, true]) {
      const p = pack({ gzip, stagingMemory: 64 * 1024, stagingDir: dir })
      const out = collect(p)
      for (const header of [{ name: 'known.bin', size: data.length }, { name: 'unknown.bin' }]) {
        const s = p.entry(header)
        for (const [i, piece] of pieces.entries()) {
          // typed arrays too, as Writables accept them
          const chunk = i % 7 === 3 ? new Uint8Array(piece) : piece
          if (!s.write(chunk)) await new Promise((resolve) => s.once('drain', resolve))
        }
        s.end()
      }
      p.entry({ name: 'tail.txt' }, 'tail')
      p.finalize()
      const file = path.join(dir, gzip ? 'a.tgz' : 'a.tar')
      fs.writeFileSync(file, await out)
      const target = path.join(dir, gzip ? 'x-gz' : 'x')
      fs.mkdirSync(target)
      run('tar', ['-xf', file, '-C', target])
      expect(fs.readFileSync(path.join(target, 'known.bin')).equals(data)).toBe(true)
      expect(fs.readFileSync(path.join(target, 'unknown.bin')).equals(data)).toBe(true)
      expect(fs.readFileSync(path.join(target, 'tail.txt'), 'utf8')).toBe('tail')
    }
    // one byte too many, in a chunk gathered with others into one native call
    const p = pack()
    const s = p.entry({ name: 'a', size: 200000 })
    s.on('error', () => {})
    for (const n of [100000, 99999, 2]) s.write(Buffer.alloc(n, 1))
    s.end()
    expect((await rejection(collect(p))).code).toBe('E_SIZE_MISMATCH')
  })

  test('unknown-size entries spill past the memory bound to a temp file that goes away', async () => {
    const stagingDir = tmpdir('bn-stage-')
    const before = openFds()
    const p = pack({ stagingMemory: 64 * 1024, stagingDir, gzip: true })
    const data = require('node:crypto').randomBytes(3 << 20)
    const s = p.entry({ name: 'dump.ndjson' })
    for (let i = 0; i < data.length; i += 100000) s.write(data.subarray(i, i + 100000))
    s.end()
    p.entry({ name: 'after' }, 'after')
    p.finalize()
    const entries = await listArchive(extract(), [await collect(p)])
    expect(entries.map((e) => [e.name, e.size])).toEqual([
      ['dump.ndjson', data.length],
      ['after', 5],
    ])
    expect(entries[0].data.equals(data)).toBe(true)
    expect(fs.readdirSync(stagingDir)).toEqual([])
    expect(openFds()).toBeLessThanOrEqual(before)
  })
})

describe('strict framing', () => {
  function ustar(name, body, patchHeader) {
    const p = tarStream.pack()
    p.entry({ name, mtime: new Date(0) }, body)
    p.finalize()
    return collect(p).then((b) => {
      if (patchHeader) patchHeader(b)
      return b
    })
  }

  function fixChecksum(block) {
    block.fill(32, 148, 156)
    let sum = 0
    for (let i = 0; i < 512; i++) sum += block[i]
    block.write(sum.toString(8).padStart(6, '0') + '\0 ', 148, 'latin1')
  }

  const cases = {
    E_HEADER_CHECKSUM: () => ustar('a', 'x', (b) => (b[0] = 'b'.charCodeAt(0))),
    E_MISSING_EOA: () => ustar('a', 'x').then((b) => b.subarray(0, 1024)),
    E_TRAILING_DATA: () => ustar('a', 'x').then((b) => Buffer.concat([b, Buffer.from('junk')])),
    E_TRUNCATED: () => ustar('a', 'hello').then((b) => b.subarray(0, 515)),
    E_NOT_TAR: () => Promise.resolve(Buffer.alloc(1024, 'x')),
    E_EMPTY_INPUT: () => Promise.resolve(Buffer.alloc(0)),
    E_HEADER_INVALID: () =>
      ustar('a', 'x', (b) => {
        b.write('0000001x', 100, 'latin1')
        fixChecksum(b)
      }),
    E_PAX_INVALID: () => {
      const pax = Buffer.from('99 path=x\n')
      const header = Buffer.alloc(512)
      header.write('PaxHeader', 0)
      header.write('0000644\0', 100)
      header.write(pax.length.toString(8).padStart(11, '0') + '\0', 124)
      header.write('00000000000\0', 136)
      header[156] = 'x'.charCodeAt(0)
      header.write('ustar\x0000', 257, 'latin1')
      fixChecksum(header)
      return ustar('a', 'x').then((b) => Buffer.concat([header, pax, Buffer.alloc(512 - pax.length), b]))
    },
  }

  test.each(Object.keys(cases))('%s in every chunking, both policies', async (code) => {
    const bytes = await cases[code]()
    for (const policy of ['permissive', 'strict']) {
      for (const [how, chunks] of chunkings(bytes)) {
        const err = await rejection(listArchive(extract({ policy }), chunks))
        expect(err).toBeInstanceOf(Error)
        expect([policy, how, err.code]).toEqual([policy, how, code])
      }
    }
  })
})

describe('policy', () => {
  async function archive(entries) {
    const p = tarStream.pack()
    for (const e of entries) p.entry(e, e.type && e.type !== 'file' ? undefined : 'x')
    p.finalize()
    return collect(p)
  }
  const cases = [
    [[{ name: '../evil' }], 'E_PATH_TRAVERSAL'],
    [[{ name: 'a/../../evil' }], 'E_PATH_TRAVERSAL'],
    [[{ name: '/etc/passwd' }], 'E_PATH_ABSOLUTE'],
    [[{ name: 'C:\\evil' }], 'E_PATH_ABSOLUTE'],
    [[{ name: 'a\\..\\evil' }], 'E_PATH_INVALID'],
    [[{ name: 'a/\uff0e\uff0e/evil' }], 'E_PATH_TRAVERSAL'],
    [[{ name: 'link', type: 'symlink', linkname: '/etc' }], 'E_ENTRY_TYPE_UNSUPPORTED'],
    [[{ name: 'dev', type: 'character-device' }], 'E_ENTRY_TYPE_UNSUPPORTED'],
    [[{ name: 'fifo', type: 'fifo' }], 'E_ENTRY_TYPE_UNSUPPORTED'],
    [[{ name: 'a' }, { name: './a' }], 'E_DUPLICATE_ENTRY'],
  ]
  test.each(cases)('strict rejects %j with %s; permissive reports it', async (entries, code) => {
    const bytes = await archive(entries)
    const err = await rejection(listArchive(extract({ policy: 'strict' }), [bytes]))
    expect(err.code).toBe(code)
    expect(err.entryName).toBe(entries[entries.length - 1].name)
    const listed = await listArchive(extract(), [bytes])
    expect(listed.map((e) => e.name)).toEqual(entries.map((e) => e.name))
  })

  test('budgets: entry count and entry size', async () => {
    const bytes = await archive([{ name: 'a' }, { name: 'b' }, { name: 'c' }])
    expect((await rejection(listArchive(extract({ limits: { maxEntries: 2 } }), [bytes]))).code).toBe('E_LIMIT_ENTRIES')
    const big = await archive([{ name: 'a' }])
    expect((await rejection(listArchive(extract({ limits: { maxEntryBytes: 0 } }), [big]))).code).toBe('E_LIMIT_ENTRY_SIZE')
  })
})
