'use strict'

// End to end over node:http: an export streamed as a response to a deliberately slow client,
// and an import from a request body.

const crypto = require('node:crypto')
const http = require('node:http')
const { Readable } = require('node:stream')
const { pipeline } = require('node:stream/promises')
const { setTimeout: sleep } = require('node:timers/promises')
const { createAppExport, importAppExport } = require('..')
const { collect } = require('./helpers')

const MIB = 1 << 20

function listen(handler) {
  return new Promise((resolve) => {
    const server = http.createServer(handler)
    server.listen(0, '127.0.0.1', () => resolve(server))
  })
}

test('a throttled download holds the sources back; the upload imports every byte', async () => {
  const attachments = []
  for (let i = 0; i < 24; i++) attachments.push({ name: `attachments/${i}.bin`, data: crypto.randomBytes(2 * MIB) })
  const dump = Buffer.from('{"docs":[{"_id":"a","_rev":"1-a"}]}\n'.repeat(50000))
  let sourceBytes = 0
  const counted = (data) => () => {
    let pos = 0
    return new Readable({
      highWaterMark: 64 * 1024,
      read() {
        if (pos >= data.length) return this.push(null)
        const piece = data.subarray(pos, (pos += 64 * 1024))
        sourceBytes += piece.length
        this.push(piece)
      },
    })
  }

  const exportServer = await listen((req, res) => {
    res.setHeader('content-type', 'application/gzip')
    const archive = createAppExport({
      db: counted(dump),
      files: attachments.map((f) => ({ name: f.name, size: f.data.length, stream: counted(f.data) })),
      password: 'pw',
      level: 1,
    })
    pipeline(archive, res).catch(() => {})
  })
  let imported = null
  const importServer = await listen((req, res) => {
    const files = new Map()
    let db = null
    importAppExport(req, {
      password: 'pw',
      onDb: async (s) => (db = await collect(s)),
      onFile: async (name, data) => files.set(name, await collect(data)),
    }).then(
      (summary) => {
        imported = { summary, files, db }
        res.end('ok')
      },
      (err) => {
        res.statusCode = 400
        res.end(err.code)
      },
    )
  })

  const { port } = exportServer.address()
  const response = await new Promise((resolve) => http.get({ host: '127.0.0.1', port, path: '/export' }, resolve))
  const received = []
  let receivedBytes = 0
  let maxAhead = 0
  for await (const chunk of response) {
    received.push(chunk)
    receivedBytes += chunk.length
    maxAhead = Math.max(maxAhead, sourceBytes - receivedBytes)
    await sleep(2) // a slow client
  }
  const archive = Buffer.concat(received)
  expect(sourceBytes).toBe(dump.length + 24 * 2 * MIB)
  // Sources are read only as fast as the client takes bytes, within the pipeline's buffers
  // (socket buffers, our ~1 MiB stream buffers, one staged entry).
  expect(maxAhead).toBeLessThan(24 * MIB)

  const upload = http.request({ host: '127.0.0.1', port: importServer.address().port, method: 'POST', path: '/import' })
  const answer = new Promise((resolve) => upload.on('response', resolve))
  await pipeline(Readable.from([archive]), upload)
  const reply = await answer
  expect((await collect(reply)).toString()).toBe('ok')
  expect(imported.summary).toMatchObject({ format: 'tar.gz', encrypted: true, files: 24 })
  expect(imported.db.equals(dump)).toBe(true)
  for (const f of attachments) expect(imported.files.get(f.name).equals(f.data)).toBe(true)
  exportServer.close()
  importServer.close()
})

test('a failed import leaves the request to the server: it answers, and the rest of the upload drains', async () => {
  const { encrypt } = require('..')
  const upload = Buffer.concat([await encrypt(crypto.randomBytes(MIB), 'pw'), crypto.randomBytes(32 * MIB)])
  const server = await listen(async (req, res) => {
    try {
      await importAppExport(req, { password: 'wrong', onDb: async () => {}, onFile: async () => {} })
      res.writeHead(200).end()
    } catch (err) {
      expect(req.destroyed).toBe(false)
      req.resume()
      res.writeHead(403).end(err.code)
    }
  })
  const { port } = server.address()
  const [status, body, uploaded] = await new Promise((resolve, reject) => {
    let reply = null
    let finished = false
    const done = () => reply && finished && resolve([...reply, finished])
    const req = http.request(`http://127.0.0.1:${port}/`, { method: 'POST' }, async (res) => {
      reply = [res.statusCode, (await collect(res)).toString()]
      done()
    })
    req.on('error', reject)
    req.on('finish', () => {
      finished = true
      done()
    })
    req.end(upload)
  })
  await new Promise((resolve) => server.close(resolve))
  expect([status, body, uploaded]).toEqual([403, 'E_BAD_PASSWORD', true])
})
