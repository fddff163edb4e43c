'use strict'

const zlib = require('node:zlib')
const { createGzip, createGunzip } = require('..')
const { chunkings, through, rejection, run, rng } = require('./helpers')

function sample(size, seed = 1) {
  const next = rng(seed)
  const words = ['alpha', 'beta', '{"_id":"doc', 'gamma', '"},\n', 'delta', '0123456789']
  const parts = []
  let n = 0
  while (n < size) {
    const w = words[Math.floor(next() * words.length)]
    parts.push(w)
    n += w.length
  }
  return Buffer.from(parts.join('')).subarray(0, size)
}

// An app dump's shape (FORMAT.md §3): batches of documents with random ids, revisions and numbers.
function ndjson(size, seed = 1) {
  const next = rng(seed)
  const lines = []
  let n = 0
  for (let i = 0; n < size; i++) {
    const docs = Array.from({ length: 20 }, (_, j) => ({
      _id: `ro_ta_${Math.floor(next() * 1e9)}`,
      _rev: `1-${Math.floor(next() * 1e12).toString(16)}`,
      name: `Row ${i * 20 + j}`,
      amount: Math.floor(next() * 1e6) / 100,
      status: ['open', 'closed', 'pending'][j % 3],
      notes: 'lorem ipsum dolor sit amet '.repeat(1 + (j % 4)),
    }))
    const line = JSON.stringify({ docs }) + '\n' + JSON.stringify({ seq: i }) + '\n'
    lines.push(line)
    n += line.length
  }
  return Buffer.from(lines.join(''))
}

const SIZES = [0, 1, 100, 65536, 300000]

describe('createGzip', () => {
  test.each(SIZES)('%i bytes are readable by zlib.gunzip, gzip -d and pigz -d', async (size) => {
    const input = sample(size)
    for (const [how, chunks] of chunkings(input, 4096)) {
      const gz = await through(createGzip(), chunks)
      expect([how, zlib.gunzipSync(gz).equals(input)]).toEqual([how, true])
      expect(run('gzip', ['-dc'], { input: gz }).equals(input)).toBe(true)
      expect(run('pigz', ['-dc'], { input: gz }).equals(input)).toBe(true)
    }
  })

  test.each([1, 6, 9])('level %i: many blocks of text and random bytes join into one member others read', async (level) => {
    // Blocks deflated apart and joined, stored runs between deflated ones, pieces that
    // do not align with blocks.
    const random = require('node:crypto').randomBytes(700000)
    const input = Buffer.concat([ndjson(1 << 20, level), random, sample(1500000, level), random.subarray(0, 100000), sample(3)])
    const pieces = []
    for (let i = 0; i < input.length; i += 99999) pieces.push(input.subarray(i, i + 99999))
    const gz = await through(createGzip({ level }), pieces)
    expect(gz.length).toBeLessThan(input.length)
    expect(zlib.gunzipSync(gz).equals(input)).toBe(true)
    expect(run('gzip', ['-dc'], { input: gz }).equals(input)).toBe(true)
    expect(run('pigz', ['-dc'], { input: gz }).equals(input)).toBe(true)
    // One member: the deflate stream between the 10-byte header and the trailer holds it all.
    expect(zlib.inflateRawSync(gz.subarray(10, gz.length - 8)).equals(input)).toBe(true)
  })

  test.each([0, 1, 9])('level %i compresses to one standard member', async (level) => {
    const input = sample(200000, level)
    const gz = await through(createGzip({ level }), [input])
    expect(gz.subarray(0, 3)).toEqual(Buffer.from([0x1f, 0x8b, 8]))
    expect(zlib.gunzipSync(gz).equals(input)).toBe(true)
    if (level === 9) expect(gz.length).toBeLessThan(input.length / 2)
  })

  test('level 6 output is within 1% of zlib level 6', async () => {
    const input = sample(1 << 20, 3)
    const ours = await through(createGzip(), [input])
    const theirs = zlib.gzipSync(input, { level: 6 })
    expect(ours.length).toBeLessThanOrEqual(Math.ceil(theirs.length * 1.01))
  })

  test.each([4, 5, 6])('level %i output on an ndjson dump is within 1%% of zlib at that level', async (level) => {
    const input = ndjson(4 << 20)
    const ours = await through(createGzip({ level }), [input])
    const theirs = zlib.gzipSync(input, { level })
    expect(zlib.gunzipSync(ours).equals(input)).toBe(true)
    expect(ours.length).toBeLessThanOrEqual(Math.ceil(theirs.length * 1.01))
  })

  test('an invalid level is an E_INVALID_ARGUMENT error', () => {
    expect(() => createGzip({ level: 12 })).toThrow(expect.objectContaining({ code: 'E_INVALID_ARGUMENT' }))
  })
})

describe('createGunzip', () => {
  const input = sample(150000, 9)
  const producers = {
    'zlib level 6': () => zlib.gzipSync(input),
    'gzip -1': () => run('gzip', ['-1c'], { input }),
    'gzip -9 with a stored name': () => run('gzip', ['-9c', '--name'], { input }),
    'pigz -p 2': () => run('pigz', ['-p', '2', '-c', '-b', '32'], { input }),
    'pigz -i (independent blocks)': () => run('pigz', ['-i', '-c', '-b', '32'], { input }),
    'three concatenated members': () =>
      Buffer.concat([zlib.gzipSync(input.subarray(0, 1000)), zlib.gzipSync(Buffer.alloc(0)), zlib.gzipSync(input.subarray(1000))]),
    'a member with FEXTRA, FNAME, FCOMMENT and FHCRC': () => withAllHeaderFields(input),
  }

  test.each(Object.keys(producers))('decodes %s in every chunking', async (name) => {
    const gz = producers[name]()
    for (const [how, chunks] of chunkings(gz, 8192)) {
      const out = await through(createGunzip(), chunks)
      expect([how, out.equals(input)]).toEqual([how, true])
    }
  })

  test('accepts zero padding after the last member', async () => {
    const gz = Buffer.concat([zlib.gzipSync(input), Buffer.alloc(10000)])
    expect((await through(createGunzip(), [gz])).equals(input)).toBe(true)
  })

  const gz = zlib.gzipSync(input)
  const cases = {
    E_EMPTY_INPUT: Buffer.alloc(0),
    E_NOT_GZIP: Buffer.from('plain text, not gzip'),
    E_GZIP_HEADER: patch(gz, 3, 0xe0),
    E_GZIP_CRC: patch(gz, gz.length - 8, gz[gz.length - 8] ^ 1),
    E_GZIP_SIZE: patch(gz, gz.length - 1, gz[gz.length - 1] ^ 1),
    E_GZIP_TRAILING_GARBAGE: Buffer.concat([gz, Buffer.from([0, 0, 7])]),
    E_GZIP_DATA: patch(gz, 10, 0xff),
    E_TRUNCATED: gz.subarray(0, gz.length - 3),
  }
  test.each(Object.keys(cases))('rejects with %s in every chunking', async (code) => {
    for (const [how, chunks] of chunkings(cases[code], 8192)) {
      const err = await rejection(through(createGunzip(), chunks))
      expect(err).toBeInstanceOf(Error)
      expect([how, err.code]).toEqual([how, code])
    }
  })

  test('every truncation of a small member is an error', async () => {
    const small = zlib.gzipSync(Buffer.from('hello, hello, hello world'))
    for (let cut = 0; cut < small.length; cut++) {
      const err = await rejection(through(createGunzip(), [small.subarray(0, cut)]))
      expect([cut, err.code]).toEqual([cut, cut === 0 ? 'E_EMPTY_INPUT' : 'E_TRUNCATED'])
    }
  })
})

function patch(buf, offset, value) {
  const copy = Buffer.from(buf)
  copy[offset] = value
  return copy
}

// A member using every optional header field, with a correct header CRC16.
function withAllHeaderFields(data) {
  const deflated = zlib.deflateRawSync(data)
  const head = Buffer.concat([
    Buffer.from([0x1f, 0x8b, 8, 0x04 | 0x08 | 0x10 | 0x02, 0, 0, 0, 0, 0, 3]),
    Buffer.from([4, 0, 1, 2, 3, 4]),
    Buffer.from('name.txt\0comment\0'),
  ])
  const crc16 = Buffer.alloc(2)
  crc16.writeUInt16LE(zlib.crc32(head) & 0xffff)
  const trailer = Buffer.alloc(8)
  trailer.writeUInt32LE(zlib.crc32(data), 0)
  trailer.writeUInt32LE(data.length, 4)
  return Buffer.concat([head, crc16, deflated, trailer])
}

describe('output memory reuse', () => {
  // Output buffers go back to a native pool when V8 collects them and are written again by
  // later steps: a Buffer JS still holds must never be among them.
  test('output still held by JS is never reused, across collections', async () => {
    require('node:v8').setFlagsFromString('--expose-gc')
    const gc = require('node:vm').runInNewContext('gc')
    const next = rng(5)
    const block = Buffer.alloc(1 << 20)
    for (let i = 0; i < block.length; i++) block[i] = 97 + Math.floor(next() * 4) // compresses 4:1
    const input = zlib.gzipSync(Buffer.concat(Array.from({ length: 48 }, (_, i) => Buffer.concat([Buffer.from(`${i}`), block]))), { level: 1 })
    const digest = (b) => require('node:crypto').createHash('sha256').update(b).digest('hex')
    const kept = []
    const all = require('node:crypto').createHash('sha256')
    let n = 0
    const gunzip = createGunzip()
    gunzip.end(input)
    for await (const chunk of gunzip) {
      all.update(chunk)
      if (n % 2 === 0) kept.push([chunk, digest(chunk)])
      if (n++ % 3 === 0) {
        gc()
        await new Promise(setImmediate) // finalizers run here and refill the pool
      }
    }
    expect(n).toBeGreaterThan(20)
    expect(all.digest('hex')).toBe(digest(zlib.gunzipSync(input)))
    expect(kept.filter(([chunk, hash]) => digest(chunk) !== hash)).toEqual([])
  })
})
