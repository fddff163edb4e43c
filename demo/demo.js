'use strict'

// npm run demo: a sample app exported by a node:http server as the backend would (streamed,
// per-file encrypted), downloaded, uploaded to an import endpoint that extracts it into a folder,
// then every byte compared. Prints size, throughput, peak RSS and event-loop delay.

const crypto = require('node:crypto')
const fs = require('node:fs')
const http = require('node:http')
const os = require('node:os')
const path = require('node:path')
const { pipeline } = require('node:stream/promises')
const { monitorEventLoopDelay } = require('node:perf_hooks')
const { exportDirectory, extractToDirectory } = require('..')

const SCALE = Number(process.env.DEMO_SCALE || 1)
const PASSWORD = 'demo password'

function makeSampleApp(dir) {
  fs.mkdirSync(path.join(dir, 'attachments'), { recursive: true })
  fs.mkdirSync(path.join(dir, 'chunks'), { recursive: true })
  const dump = fs.createWriteStream(path.join(dir, 'db.txt'))
  dump.write(JSON.stringify({ version: 1, db_type: 'couchdb', start_time: new Date().toISOString(), db_info: { doc_count: 0 } }) + '\n')
  for (let batch = 0; batch < 400 * SCALE; batch++) {
    const docs = []
    for (let i = 0; i < 100; i++) {
      const n = batch * 100 + i
      docs.push({ _id: `ro_ta_users_${n}`, _rev: `1-${crypto.createHash('md5').update(String(n)).digest('hex')}`, name: `User ${n}`, email: `user${n}@example.com`, score: (n * 7919) % 1000 })
    }
    dump.write(JSON.stringify({ docs }) + '\n' + JSON.stringify({ seq: batch }) + '\n')
  }
  dump.end()
  for (let i = 0; i < 40 * SCALE; i++) fs.writeFileSync(path.join(dir, 'attachments', `${crypto.randomUUID()}.jpg`), crypto.randomBytes(256 * 1024))
  for (let i = 0; i < 200; i++) fs.writeFileSync(path.join(dir, 'chunks', `chunk-${i}.js`), `export const chunk${i} = ${JSON.stringify('x'.repeat(i * 10))}\n`)
  fs.writeFileSync(path.join(dir, 'manifest.json'), JSON.stringify({ name: 'sample', chunks: 200 }))
  return new Promise((resolve) => dump.on('close', resolve))
}

function listFiles(dir, prefix = '') {
  return fs.readdirSync(path.join(dir, prefix), { withFileTypes: true }).flatMap((e) => {
    const name = prefix ? `${prefix}/${e.name}` : e.name
    return e.isDirectory() ? listFiles(dir, name) : [name]
  })
}

async function main() {
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'backup-native-demo-'))
  const appDir = path.join(work, 'app')
  const importDir = path.join(work, 'imported')
  await makeSampleApp(appDir)
  const sourceBytes = listFiles(appDir).reduce((n, f) => n + fs.statSync(path.join(appDir, f)).size, 0)

  const server = http.createServer((req, res) => {
    if (req.method === 'GET' && req.url === '/export') {
      res.setHeader('content-type', 'application/gzip')
      res.setHeader('content-disposition', 'attachment; filename="sample-export.enc.tar.gz"')
      pipeline(exportDirectory(appDir, { password: PASSWORD }), res).catch(() => {})
    } else if (req.method === 'POST' && req.url === '/import') {
      extractToDirectory(req, importDir, { password: PASSWORD }).then(
        (summary) => res.end(JSON.stringify(summary)),
        (err) => {
          res.statusCode = 400
          res.end(JSON.stringify({ code: err.code, message: err.message }))
        },
      )
    } else {
      res.statusCode = 404
      res.end()
    }
  })
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address()

  const delay = monitorEventLoopDelay({ resolution: 1 })
  delay.enable()
  let peakRss = process.memoryUsage().rss
  const sampler = setInterval(() => (peakRss = Math.max(peakRss, process.memoryUsage().rss)), 50)

  const archivePath = path.join(work, 'download.enc.tar.gz')
  const t0 = process.hrtime.bigint()
  const response = await new Promise((resolve) => http.get({ host: '127.0.0.1', port, path: '/export' }, resolve))
  await pipeline(response, fs.createWriteStream(archivePath))
  const t1 = process.hrtime.bigint()
  const upload = http.request({ host: '127.0.0.1', port, method: 'POST', path: '/import' })
  const answer = new Promise((resolve) => upload.on('response', resolve))
  await pipeline(fs.createReadStream(archivePath), upload)
  const reply = await answer
  let body = ''
  for await (const c of reply) body += c
  const t2 = process.hrtime.bigint()
  clearInterval(sampler)
  delay.disable()
  server.close()
  if (reply.statusCode !== 200) throw new Error(`import failed: ${body}`)

  const mismatched = listFiles(appDir).filter((f) => !fs.readFileSync(path.join(appDir, f)).equals(fs.readFileSync(path.join(importDir, f))))
  const archiveBytes = fs.statSync(archivePath).size
  const mb = (n) => (n / 1e6).toFixed(1)
  const secs = (a, b) => Number(b - a) / 1e9
  console.log(`sample app:      ${listFiles(appDir).length} files, ${mb(sourceBytes)} MB (db.txt ${mb(fs.statSync(path.join(appDir, 'db.txt')).size)} MB)`)
  console.log(`export (HTTP):   ${mb(archiveBytes)} MB archive in ${secs(t0, t1).toFixed(2)} s = ${mb(sourceBytes / secs(t0, t1))} MB/s of app data`)
  console.log(`import (HTTP):   ${secs(t1, t2).toFixed(2)} s = ${mb(sourceBytes / secs(t1, t2))} MB/s, summary ${body}`)
  console.log(`verified:        ${mismatched.length === 0 ? 'every byte identical' : `MISMATCH in ${mismatched.join(', ')}`}`)
  console.log(`peak RSS:        ${mb(peakRss)} MB`)
  console.log(`event-loop delay p99 ${(delay.percentile(99) / 1e6).toFixed(2)} ms, max ${(delay.max / 1e6).toFixed(2)} ms`)
  fs.rmSync(work, { recursive: true, force: true })
  if (mismatched.length) process.exitCode = 1
}

main().catch((err) => {
  console.error(`demo failed: ${err.message} (${err.code || 'E_INTERNAL'})`)
  process.exitCode = 1
})
