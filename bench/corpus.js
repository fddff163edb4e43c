'use strict'

// A deterministic synthetic app: an ndjson dump, small text/JSON files, incompressible
// attachments. Scale 1 = 200 MB dump, 2000 small files, 200 MB of attachments (452 MB).

const crypto = require('node:crypto')
const fs = require('node:fs')
const path = require('node:path')

function prng(seed) {
  let s = BigInt(seed) || 1n
  return () => {
    s ^= (s << 13n) & 0xffffffffffffffffn
    s ^= s >> 7n
    s ^= (s << 17n) & 0xffffffffffffffffn
    return Number(s & 0xffffffffn) / 0x100000000
  }
}

function generate(dir, scale = 1, extraDir) {
  const marker = path.join(dir, `.complete-${scale}`)
  if (fs.existsSync(marker)) return dir
  fs.rmSync(dir, { recursive: true, force: true })
  fs.mkdirSync(path.join(dir, 'attachments'), { recursive: true })
  fs.mkdirSync(path.join(dir, 'chunks'), { recursive: true })
  const next = prng(42)
  const fd = fs.openSync(path.join(dir, 'db.txt'), 'w')
  fs.writeSync(fd, JSON.stringify({ version: 1, db_type: 'couchdb', start_time: '2026-01-01T00:00:00Z', db_info: {} }) + '\n')
  let written = 0
  let n = 0
  while (written < 200e6 * scale) {
    const docs = []
    for (let i = 0; i < 100; i++, n++) {
      docs.push({ _id: `ro_ta_${(n * 2654435761) % 1e9}`, _rev: `1-${Math.floor(next() * 1e12).toString(16)}`, name: `Row ${n}`, amount: Math.floor(next() * 1e6) / 100, status: ['open', 'closed', 'pending'][n % 3], notes: 'lorem ipsum dolor sit amet '.repeat(1 + (n % 4)) })
    }
    const line = JSON.stringify({ docs }) + '\n' + JSON.stringify({ seq: n }) + '\n'
    fs.writeSync(fd, line)
    written += line.length
  }
  fs.closeSync(fd)
  for (let i = 0; i < 2000 * scale; i++) {
    const body = i % 2 ? JSON.stringify({ id: i, props: Array.from({ length: 20 }, (_, j) => ({ key: `k${j}`, value: next() })) }) : `export const c${i} = () => ${JSON.stringify('x'.repeat(Math.floor(next() * 4000)))}\n`
    fs.writeFileSync(path.join(dir, 'chunks', `c${i}.${i % 2 ? 'json' : 'js'}`), body)
  }
  const seed = crypto.createHash('sha256').update('attachments').digest()
  for (let i = 0; i < 100 * scale; i++) {
    const key = crypto.createHash('sha256').update(seed).update(String(i)).digest()
    const cipher = crypto.createCipheriv('aes-256-ctr', key, Buffer.alloc(16))
    fs.writeFileSync(path.join(dir, 'attachments', `${i}.jpg`), cipher.update(Buffer.alloc(2e6)))
  }
  if (extraDir) fs.cpSync(extraDir, path.join(dir, 'extra'), { recursive: true })
  fs.writeFileSync(marker, '')
  return dir
}

// Many small files and a small dump: per-entry costs, where the main corpus is mostly bytes.
// 20,000 JSON and JavaScript files of 200-2200 bytes (24 MB).
function generateSmallFiles(dir, count = 20000) {
  const marker = path.join(dir, `.complete-${count}`)
  if (fs.existsSync(marker)) return dir
  fs.rmSync(dir, { recursive: true, force: true })
  const next = prng(7)
  fs.mkdirSync(path.join(dir, 'files'), { recursive: true })
  fs.writeFileSync(path.join(dir, 'db.txt'), JSON.stringify({ version: 1, db_type: 'couchdb', docs: [] }) + '\n')
  for (let i = 0; i < count; i++) {
    const size = 200 + Math.floor(next() * 2000)
    const props = Array.from({ length: Math.ceil(size / 12) }, (_, j) => ({ [`k${j}`]: Math.floor(next() * 1e6) }))
    const body = i % 2 ? JSON.stringify({ id: i, props }) : `export const f${i} = ${JSON.stringify(props)}\n`
    fs.writeFileSync(path.join(dir, 'files', `f${i}.${i % 2 ? 'json' : 'js'}`), body.slice(0, size))
  }
  fs.writeFileSync(marker, '')
  return dir
}

function listFiles(dir, prefix = '') {
  return fs.readdirSync(path.join(dir, prefix), { withFileTypes: true }).flatMap((e) => {
    const name = prefix ? `${prefix}/${e.name}` : e.name
    if (e.name.startsWith('.')) return []
    return e.isDirectory() ? listFiles(dir, name) : [name]
  })
}

module.exports = { generate, generateSmallFiles, listFiles }
