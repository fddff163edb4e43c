'use strict'

// One benchmark case in this process: node bench/case.js <case> <impl> <corpus> <work>
// Prints one JSON line: seconds, cpu, peak RSS, event-loop delay, bytes in/out.

const fs = require('node:fs')
const path = require('node:path')
const { spawn } = require('node:child_process')
const { pipeline } = require('node:stream/promises')
const { Readable, Writable } = require('node:stream')
const { monitorEventLoopDelay } = require('node:perf_hooks')
const lib = require('..')

// Loaded when a case first uses them, so that a case's peak RSS counts only what it runs
// (tar-stream alone adds 5 MiB to a Node process).
const zlib = () => require('node:zlib')
const crypto = () => require('node:crypto')
const tarStream = () => require('tar-stream')
const nodeTar = () => require('tar')

const [, , name, impl, corpus, work] = process.argv
const PASSWORD = 'benchmark password'

function sink() {
  let n = 0
  const w = new Writable({ write: (c, e, cb) => ((n += c.length), cb()) })
  w.bytes = () => n
  return w
}

const deriveKey = (salt) => crypto().pbkdf2Sync(PASSWORD, salt, 10000, 32, 'sha512')

// The envelope's cipher in JS: AES-256-CTR keyed from a random salt, which goes first with the IV.
function envelopeCipher() {
  const salt = crypto().randomBytes(16)
  const iv = crypto().randomBytes(16)
  return { head: Buffer.concat([salt, iv]), cipher: crypto().createCipheriv('aes-256-ctr', deriveKey(salt), iv) }
}

// Whole-archive encryption: the salt and IV, then AES-CTR over the gzip stream.
function archiveCipher(out) {
  const { head, cipher } = envelopeCipher()
  out.write(head)
  return cipher
}

function jsEncrypt(plain) {
  const { head, cipher } = envelopeCipher()
  return Buffer.concat([head, cipher.update(zlib().gzipSync(plain)), cipher.final()])
}

// The backend's JavaScript pipeline: tar-stream -> zlib level 6 (per-file envelopes buffered, as it did).
async function jsExport(out, encrypted, wrap = []) {
  const pack = tarStream().pack()
  const done = pipeline(pack, zlib().createGzip({ level: 6 }), ...wrap, out)
  const add = (header, data) => new Promise((resolve, reject) => pack.entry(header, data, (err) => (err ? reject(err) : resolve())))
  const names = ['db.txt', ...require('./corpus').listFiles(corpus).filter((n) => n !== 'db.txt')]
  for (const n of names) {
    const file = path.join(corpus, n)
    const enc = encrypted && !n.startsWith('attachments/')
    if (enc) {
      await add({ name: `${n}.enc` }, jsEncrypt(fs.readFileSync(file)))
    } else {
      const size = fs.statSync(file).size
      await pipeline(fs.createReadStream(file), pack.entry({ name: n, size }))
    }
  }
  pack.finalize()
  await done
}

// The same with node-tar, which reads the files itself and takes no entry of unknown size:
// per-file envelopes are written to a temporary folder first, as the backend did.
async function nodeTarExport(out, encrypted, wrap = []) {
  const names = require('./corpus').listFiles(corpus)
  let cwd = corpus
  let entries = names
  if (encrypted) {
    cwd = fs.mkdtempSync(path.join(work, 'node-tar-'))
    entries = names.map((n) => {
      const target = path.join(cwd, n.startsWith('attachments/') ? n : `${n}.enc`)
      fs.mkdirSync(path.dirname(target), { recursive: true })
      if (n.startsWith('attachments/')) fs.linkSync(path.join(corpus, n), target)
      else fs.writeFileSync(target, jsEncrypt(fs.readFileSync(path.join(corpus, n))))
      return path.relative(cwd, target)
    })
  }
  try {
    await pipeline(nodeTar().c({ gzip: { level: 6 }, cwd, portable: true }, entries), ...wrap, out)
  } finally {
    if (cwd !== corpus) fs.rmSync(cwd, { recursive: true, force: true })
  }
}

function decryptEnvelope(b) {
  const d = crypto().createDecipheriv('aes-256-ctr', deriveKey(b.subarray(0, 16)), b.subarray(16, 32))
  return zlib().gunzipSync(Buffer.concat([d.update(b.subarray(32)), d.final()]))
}

function dropEntry(stream, done) {
  stream.on('data', () => {})
  stream.on('end', done)
}

// Every entry's bytes reach JS; an envelope is gathered and opened, the rest is dropped as it
// comes, as the streamed import does.
function consumeEntry(name, stream, done = () => {}) {
  if (!name.endsWith('.enc')) return dropEntry(stream, done)
  const chunks = []
  stream.on('data', (c) => chunks.push(c))
  stream.on('end', () => {
    decryptEnvelope(Buffer.concat(chunks))
    done()
  })
}

async function nodeTarImport(input) {
  const onReadEntry = (entry) => consumeEntry(entry.path, entry)
  await pipeline(fs.createReadStream(input), new (nodeTar().Parser)({ onReadEntry }))
}

async function jsImport(input) {
  const extract = tarStream().extract()
  extract.on('entry', (header, stream, next) => consumeEntry(header.name, stream, next))
  await pipeline(fs.createReadStream(input), zlib().createGunzip(), extract)
}

// Every entry is dropped as the JavaScript imports drop theirs ('data' events; an async
// iterator per entry costs the JS thread more).
async function ourImport(input) {
  const drain = (stream) => new Promise((resolve, reject) => dropEntry(stream.on('error', reject), resolve))
  await lib.importAppExport(input, { password: PASSWORD, onDb: drain, onFile: (n, d) => drain(d) })
}

// The 2 GiB app of the memory cases, generated as it streams: a 1 GiB ndjson dump of unknown
// size and 512 incompressible 2 MiB attachments.
const LARGE_DUMP = 2 ** 30
const LARGE_FILES = 512
const LARGE_FILE = 2 << 20

function generatedDump(bytes) {
  const next = (() => {
    let x = 42
    return () => ((x = (x * 1103515245 + 12345) >>> 0) / 2 ** 32)
  })()
  // 16 distinct 256 KiB blocks of rows, cycled: compresses like a real dump (deflate sees 32 KiB
  // back), costs nothing to make and holds 4 MiB.
  const blocks = Array.from({ length: 16 }, () => {
    let text = ''
    for (let n = 0; text.length < 256 << 10; n++) {
      const docs = Array.from({ length: 20 }, (_, i) => ({ _id: `ro_ta_${Math.floor(next() * 1e9)}`, _rev: `1-${Math.floor(next() * 1e12).toString(16)}`, amount: Math.floor(next() * 1e6) / 100, notes: 'lorem ipsum '.repeat(1 + (i % 4)) }))
      text += JSON.stringify({ docs }) + '\n' + JSON.stringify({ seq: n }) + '\n'
    }
    return Buffer.from(text)
  })
  let sent = 0
  let i = 0
  return new Readable({
    read() {
      const block = blocks[i++ % blocks.length]
      const piece = block.subarray(0, Math.min(block.length, bytes - sent))
      sent += piece.length
      this.push(piece.length ? piece : null)
    },
  })
}

function generatedFile(i, bytes) {
  const cipher = crypto().createCipheriv('aes-256-ctr', crypto().createHash('sha256').update(String(i)).digest(), Buffer.alloc(16))
  const zeros = Buffer.alloc(256 * 1024)
  let sent = 0
  return new Readable({
    read() {
      const n = Math.min(zeros.length, bytes - sent)
      sent += n
      this.push(n ? cipher.update(zeros.subarray(0, n)) : null)
    },
  })
}

function* largeFiles() {
  for (let i = 0; i < LARGE_FILES; i++) yield { name: `attachments/${i}.jpg`, size: LARGE_FILE, stream: () => generatedFile(i, LARGE_FILE) }
}

// The JavaScript pipeline on the 2 GiB app: tar-stream needs each entry's size up front, so the
// dump is staged to a temporary file first, as the backend did.
async function jsLargeExport(out) {
  const staged = path.join(work, 'js-dump.staged')
  try {
    await pipeline(generatedDump(LARGE_DUMP), fs.createWriteStream(staged))
    const pack = tarStream().pack()
    const done = pipeline(pack, zlib().createGzip({ level: 6 }), out)
    const add = (name, size, stream) => pipeline(stream, pack.entry({ name, size }))
    await add('db.txt', fs.statSync(staged).size, fs.createReadStream(staged))
    for (const file of largeFiles()) await add(file.name, file.size, file.stream())
    pack.finalize()
    await done
  } finally {
    fs.rmSync(staged, { force: true })
  }
}

function archivePath(kind) {
  return path.join(work, `${kind}.archive`)
}

const cases = {
  'export plain': {
    ours: (out) => pipeline(lib.exportDirectory(corpus), out),
    js: (out) => jsExport(out, false),
    'node-tar': (out) => nodeTarExport(out, false),
  },
  'export per-file': {
    ours: (out) => pipeline(lib.exportDirectory(corpus, { password: PASSWORD }), out),
    js: (out) => jsExport(out, true),
    'node-tar': (out) => nodeTarExport(out, true),
  },
  'export archive-encrypted': {
    ours: (out) => pipeline(lib.exportDirectory(corpus, { password: PASSWORD, encryption: 'archive' }), out),
    js: (out) => jsExport(out, false, [archiveCipher(out)]),
    'node-tar': (out) => nodeTarExport(out, false, [archiveCipher(out)]),
  },
  'import plain': {
    ours: () => ourImport(archivePath('plain')),
    js: () => jsImport(archivePath('plain')),
    'node-tar': () => nodeTarImport(archivePath('plain')),
  },
  'import per-file': {
    ours: () => ourImport(archivePath('per-file')),
    js: () => jsImport(archivePath('per-file')),
    'node-tar': () => nodeTarImport(archivePath('per-file')),
  },
  'gzip alone': {
    ours: (out) => pipeline(fs.createReadStream(path.join(corpus, 'db.txt')), lib.createGzip(), out),
    js: (out) => pipeline(fs.createReadStream(path.join(corpus, 'db.txt')), zlib().createGzip({ level: 6 }), out),
    pigz: async (out) => {
      const pigz = spawn('pigz', ['-p', '2', '-6', '-c', path.join(corpus, 'db.txt')])
      const exited = new Promise((resolve) => pigz.on('close', resolve)) // reaped: its CPU time counts
      await pipeline(pigz.stdout, out)
      await exited
    },
  },
  'gunzip alone': {
    ours: (out) => pipeline(fs.createReadStream(archivePath('plain')), lib.createGunzip(), out),
    js: (out) => pipeline(fs.createReadStream(archivePath('plain')), zlib().createGunzip(), out),
  },
  // Peak memory on a 2 GiB app (npm run bench -- --large).
  'export 2 GiB': { ours: (out) => pipeline(lib.createAppExport({ db: generatedDump(LARGE_DUMP), files: largeFiles() }), out), js: jsLargeExport },
  'import 2 GiB': { ours: () => ourImport(archivePath('large')), js: () => jsImport(archivePath('large')) },
  // The 2 GiB app's sources alone, drained: the memory their own garbage Buffers take.
  'sources 2 GiB': {
    ours: async (out) => {
      for await (const chunk of generatedDump(LARGE_DUMP)) out.write(chunk)
      for (const file of largeFiles()) for await (const chunk of file.stream()) out.write(chunk)
      out.end()
    },
  },
  'envelope alone': {
    ours: (out) => pipeline(fs.createReadStream(path.join(corpus, 'db.txt')), lib.createEncryptStream(PASSWORD), out),
    js: (out) => pipeline(fs.createReadStream(path.join(corpus, 'db.txt')), zlib().createGzip({ level: 6 }), archiveCipher(out), out),
  },
}

// CPU time of the child processes this one has waited for (pigz), from /proc (Linux; 0 elsewhere).
function childrenCpuSeconds() {
  try {
    const stat = fs.readFileSync('/proc/self/stat', 'utf8')
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ') // from field 3, state
    return (Number(fields[13]) + Number(fields[14])) / 100 // cutime, cstime in clock ticks (USER_HZ)
  } catch {
    return 0
  }
}

async function main() {
  const run = cases[name] && cases[name][impl]
  if (!run) throw new Error(`unknown case ${name}/${impl}`)
  const delay = monitorEventLoopDelay({ resolution: 1 })
  const keep = process.env.BENCH_KEEP // write the output to this file (to prepare import inputs)
  const out = keep ? fs.createWriteStream(keep) : sink()
  const cpu0 = process.cpuUsage()
  const children0 = childrenCpuSeconds()
  delay.enable()
  const t0 = process.hrtime.bigint()
  await run(out)
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9
  delay.disable()
  const cpu = process.cpuUsage(cpu0)
  const children = childrenCpuSeconds() - children0
  const bytesOut = keep ? fs.statSync(keep).size : out.bytes()
  process.stdout.write(
    JSON.stringify({
      case: name,
      impl,
      seconds,
      cpuSeconds: (cpu.user + cpu.system) / 1e6 + children,
      peakRssMiB: process.resourceUsage().maxRSS / 1024,
      // null when the loop never reached a timer (a drain that is never kept waiting)
      eldP99Ms: delay.count ? delay.percentile(99) / 1e6 : null,
      eldMaxMs: delay.count ? delay.max / 1e6 : null,
      bytesOut,
    }) + '\n',
  )
}

main().catch((err) => {
  console.error(err)
  process.exitCode = 1
})
