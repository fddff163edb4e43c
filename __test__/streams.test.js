'use strict'

const fs = require('node:fs')
const zlib = require('node:zlib')
const { Readable, Writable } = require('node:stream')
const { pipeline } = require('node:stream/promises')
const { spawnSync } = require('node:child_process')
const { setTimeout: sleep } = require('node:timers/promises')
const lib = require('..')
const { collect, rejection, tmpdir, openFds } = require('./helpers')

// An endless source of compressible bytes.
function endless() {
  const chunk = Buffer.alloc(256 * 1024, 'abcdefgh')
  return new Readable({
    read() {
      this.push(chunk)
    },
  })
}

function slowSink(delayMs) {
  return new Writable({
    highWaterMark: 1024,
    write(chunk, encoding, callback) {
      setTimeout(callback, delayMs)
    },
  })
}

// Each transform with an endless source of the input it expects.
const transforms = {
  createGzip: [(o) => lib.createGzip(o), () => endless()],
  createEncryptStream: [(o) => lib.createEncryptStream('pw', o), () => endless()],
  createGunzip: [(o) => lib.createGunzip(o), () => endless().pipe(zlib.createGzip({ level: 1 }))],
  createDecryptStream: [(o) => lib.createDecryptStream('pw', o), () => endless().pipe(lib.createEncryptStream('pw', { level: 1 }))],
}

describe('abort', () => {
  test.each(Object.keys(transforms))('%s: its signal fails the pipeline with E_ABORTED', async (name) => {
    const [make, source] = transforms[name]
    const controller = new AbortController()
    setTimeout(() => controller.abort(), 200)
    const err = await rejection(pipeline(source(), make({ signal: controller.signal }), slowSink(5)))
    expect(err).toBeInstanceOf(Error)
    expect(err.code).toBe('E_ABORTED')
  })

  test('pipeline(..., { signal }) destroys our streams with E_ABORTED', async () => {
    const controller = new AbortController()
    const gzip = lib.createGzip()
    let streamError
    gzip.on('error', (e) => (streamError = e))
    setTimeout(() => controller.abort(), 100)
    const err = await rejection(pipeline(endless(), gzip, slowSink(2), { signal: controller.signal }))
    expect(err.name).toBe('AbortError')
    expect(streamError.code).toBe('E_ABORTED')
    expect(gzip.destroyed).toBe(true)
  })

  test('a plain destroy() closes quietly and pending work stops', async () => {
    const gunzip = lib.createGunzip()
    const closed = new Promise((resolve) => gunzip.on('close', resolve))
    gunzip.write(zlib.gzipSync(Buffer.alloc(10 << 20)))
    gunzip.destroy()
    await closed
    expect(gunzip.destroyed).toBe(true)
  })

  test('pack: aborting a staged entry removes its temp file', async () => {
    const stagingDir = tmpdir('bn-abort-')
    const before = openFds()
    const controller = new AbortController()
    const p = lib.pack({ gzip: true, stagingMemory: 1024, stagingDir, signal: controller.signal })
    const sink = p.entry({ name: 'dump' })
    const sinkError = new Promise((resolve) => sink.on('error', resolve))
    sink.write(Buffer.alloc(4 << 20, 1))
    await sleep(50)
    controller.abort()
    const err = await rejection(collect(p))
    expect(err.code).toBe('E_ABORTED')
    expect((await sinkError).code).toBe('E_ABORTED')
    await sleep(50)
    expect(fs.readdirSync(stagingDir)).toEqual([])
    expect(openFds()).toBeLessThanOrEqual(before)
  })

  test('extract: destroy in the middle of an entry ends iteration with E_ABORTED', async () => {
    const p = lib.pack()
    p.entry({ name: 'big', size: 8 << 20 }, Buffer.alloc(8 << 20))
    p.entry({ name: 'next' }, 'x')
    p.finalize()
    const bytes = await collect(p)
    const ex = lib.extract()
    const iterate = (async () => {
      for await (const entry of ex) {
        let seen = 0
        for await (const chunk of entry) {
          seen += chunk.length
          if (seen > 1 << 20) ex.destroy(new DOMException('stop', 'AbortError'))
        }
      }
    })()
    ex.on('error', () => {})
    ex.end(bytes)
    const err = await rejection(iterate)
    expect(err.code).toBe('E_ABORTED')
  })
})

describe('pack: small entries given whole are batched', () => {
  // Lists an archive with tar-stream: [name, body] in order.
  async function tarStreamEntries(bytes) {
    const ex = require('tar-stream').extract()
    const seen = []
    ex.on('entry', (h, s, next) => collect(s).then((d) => (seen.push([h.name, d.toString()]), next())))
    await pipeline(Readable.from([zlib.gunzipSync(bytes)]), ex)
    return seen
  }

  test('whole entries between streamed ones keep their order', async () => {
    const p = lib.pack({ gzip: true })
    const expected = []
    for (let i = 0; i < 600; i++) {
      if (i % 97 === 0) {
        const s = p.entry({ name: `streamed-${i}` })
        s.end(`streamed body ${i}`)
        expected.push([`streamed-${i}`, `streamed body ${i}`])
      } else {
        p.entry({ name: `small-${i}` }, `small body ${i}`)
        expected.push([`small-${i}`, `small body ${i}`])
      }
    }
    p.finalize()
    expect(await tarStreamEntries(await collect(p))).toEqual(expected)
  })

  test('an entry the native side refuses fails the pack with its name', async () => {
    const p = lib.pack()
    const errored = new Promise((resolve) => p.on('error', resolve))
    p.entry({ name: 'fine' }, 'x')
    p.entry({ name: 'nul\0name' }, 'x')
    p.resume()
    const err = await errored
    expect(err).toBeInstanceOf(Error)
    expect([err.code, err.entryName]).toEqual(['E_PATH_INVALID', 'nul\0name'])
  })

  test('an entry given whole to a destroyed pack gets the error in its callback', async () => {
    const p = lib.pack()
    p.on('error', () => {})
    p.destroy(new Error('gone'))
    const err = await new Promise((resolve) => p.entry({ name: 'late' }, 'x', resolve))
    expect(err).toBeInstanceOf(Error)
    expect(err.message).toBe('gone')
  })

  test('callbacks wait once 4 MiB is queued for a reader that does not read', async () => {
    const p = lib.pack()
    const body = Buffer.alloc(64 * 1024, 1)
    let called = 0
    for (let i = 0; i < 256; i++) p.entry({ name: `f${i}` }, body, () => called++) // 16 MiB
    await sleep(300)
    expect(called).toBeGreaterThan(0)
    expect(called).toBeLessThan(256)
    p.finalize()
    let total = 0
    for await (const chunk of p) total += chunk.length
    expect(called).toBe(256)
    expect(total).toBe(256 * (512 + body.length) + 1024)
  })
})

describe('backpressure', () => {
  test('gunzip of a 256 MiB expansion holds a bounded amount for a paused reader', async () => {
    const size = 256 << 20
    const gz = zlib.gzipSync(Buffer.alloc(size))
    const gunzip = lib.createGunzip()
    gunzip.end(gz)
    await sleep(300)
    expect(gunzip.readableLength).toBeLessThanOrEqual(4 << 20)
    let total = 0
    for await (const chunk of gunzip) {
      total += chunk.length
      if (total < 8 << 20) await sleep(1)
    }
    expect(total).toBe(size)
  })

  test('a deliberately slow consumer pauses pack and still gets every byte', async () => {
    const chunk = require('node:crypto').randomBytes(1 << 20) // incompressible: output keeps pace with input
    const p = lib.pack({ gzip: { level: 1 } })
    const sink = p.entry({ name: 'stream', size: 64 << 20 })
    let writes = 0
    let refused = false
    const produce = (async () => {
      for (let i = 0; i < 64; i++) {
        writes++
        if (!sink.write(chunk)) {
          refused = true
          await new Promise((resolve) => sink.once('drain', resolve))
        }
      }
      sink.end()
      p.finalize()
    })()
    await sleep(300)
    expect(refused).toBe(true)
    expect(writes).toBeLessThan(64)
    expect(p.readableLength).toBeLessThanOrEqual(4 << 20)
    const out = []
    for await (const c of p) {
      out.push(c)
      await sleep(2)
    }
    await produce
    const entries = []
    const ex = lib.extract()
    ex.on('entry', (h, s, next) => {
      collect(s).then((d) => {
        let same = true
        for (let i = 0; i < d.length; i += chunk.length) same = same && d.subarray(i, i + chunk.length).equals(chunk)
        entries.push([h.name, d.length, same])
        next()
      })
    })
    await pipeline(Readable.from(out), ex)
    expect(entries).toEqual([['stream', 64 << 20, true]])
  })
})

describe('steps on threads of our own', () => {
  // Each step runs on a thread of our own: with libuv's only thread stuck in a read of an empty
  // FIFO, a gzip round trip and a pack/extract round trip still finish (on the pool they would hang).
  test('a pipeline runs while every thread of the pool is held by a blocked read', () => {
    if (process.platform === 'win32') return
    const fifo = require('node:path').join(tmpdir('bn-pool-'), 'held.fifo')
    expect(spawnSync('mkfifo', [fifo]).status).toBe(0)
    const script = `
      const fs = require('node:fs'), zlib = require('node:zlib'), lib = require(${JSON.stringify(require.resolve('..'))})
      const { Readable } = require('node:stream'), { pipeline } = require('node:stream/promises')
      const fd = fs.openSync(${JSON.stringify(fifo)}, 'r+') // read and write: no writer to wait for
      fs.read(fd, Buffer.alloc(1), 0, 1, null, () => {}) // takes the pool's only thread until a byte comes
      const collect = async (stream) => Buffer.concat(await stream.toArray())
      ;(async () => {
        const data = Buffer.alloc(3 << 20, 'pool thread ')
        const gzipped = await collect(Readable.from([data]).pipe(lib.createGzip()))
        const back = await collect(Readable.from([gzipped]).pipe(lib.createGunzip()))
        const p = lib.pack({ gzip: true })
        p.entry({ name: 'a.txt' }, data)
        p.finalize()
        const names = []
        const ex = lib.extract()
        ex.on('entry', (h, s, next) => collect(s).then((d) => (names.push([h.name, d.equals(data)]), next())))
        await pipeline(p, ex)
        console.log(JSON.stringify({ gzip: zlib.gunzipSync(gzipped).equals(data), gunzip: back.equals(data), names }))
        fs.writeSync(fd, 'x') // lets the read end, and the process exit
      })()`
    const r = spawnSync(process.execPath, ['-e', script], { env: { ...process.env, UV_THREADPOOL_SIZE: '1' }, timeout: 30000, encoding: 'utf8' })
    expect(r.signal).toBe(null) // not killed at the timeout: nothing waited for the pool
    expect(r.stderr).toBe('')
    expect(JSON.parse(r.stdout)).toEqual({ gzip: true, gunzip: true, names: [['a.txt', true]] })
  })

  // A worker's heap goes with it, while a step on our threads may still read one of its Buffers:
  // the teardown waits for the step. Here a gunzip step copies most of a 64 MiB chunk aside
  // (its output is capped) just as the worker is terminated; without the wait, a segfault.
  test('terminating a worker thread in the middle of a step', () => {
    const script = `
      const { Worker } = require('node:worker_threads'), { once } = require('node:events'), zlib = require('node:zlib')
      const lib = require(${JSON.stringify(require.resolve('..'))})
      const code = \`
        const lib = require(${JSON.stringify(require.resolve('..'))}), { parentPort, workerData } = require('node:worker_threads')
        const gunzip = lib.createGunzip()
        gunzip.resume()
        gunzip.write(workerData.archive)
        parentPort.postMessage('busy')\`
      ;(async () => {
        const archive = zlib.gzipSync(Buffer.alloc(64 << 20, 'stored'), { level: 0 })
        for (let i = 0; i < 5; i++) {
          const worker = new Worker(code, { eval: true, workerData: { archive } })
          await once(worker, 'message')
          await worker.terminate()
        }
        const data = Buffer.alloc(1 << 20, 'main')
        const out = Buffer.concat(await require('node:stream').Readable.from([data]).pipe(lib.createGzip()).toArray())
        console.log(zlib.gunzipSync(out).equals(data) ? 'ok' : 'bad output')
      })()`
    const r = spawnSync(process.execPath, ['-e', script], { timeout: 60000, encoding: 'utf8' })
    expect([r.signal, r.stderr, r.stdout.trim()]).toEqual([null, '', 'ok'])
  })
})
