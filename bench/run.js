'use strict'

// npm run bench [-- --scale 0.25 --runs 3 --extra ../shared/fixtures/budibase-templates --only export]
// Each case runs in its own process, ours and the JavaScript pipelines (tar-stream + zlib +
// crypto; node-tar) alternating; prints a table of medians with how many times faster ours is
// than each, and writes bench/out/results.json.
// npm run bench -- --large: peak RSS of a 2 GiB export and import (1 GiB dump of unknown size),
// ours and tar-stream + zlib's, against an idle Node process; writes bench/out/large.json.

const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const { execFileSync, spawn } = require('node:child_process')
const { generate, generateSmallFiles, listFiles } = require('./corpus')

const args = process.argv.slice(2)
const option = (name, fallback) => {
  const i = args.indexOf(`--${name}`)
  return i >= 0 ? args[i + 1] : fallback
}
const scale = Number(option('scale', 1))
const runs = Number(option('runs', 3))
const only = option('only', '')
const extra = option('extra', undefined)
const large = args.includes('--large')
const out = path.join(__dirname, 'out')
const work = path.join(out, `work-${scale}`)
fs.mkdirSync(work, { recursive: true })

// A Node process that loads nothing and waits a second: its peak RSS, and the event-loop delay
// the monitor reports for it (Node records the interval between samples, so an idle loop
// measures about the 1 ms resolution).
function idleNode(ms = 1000) {
  const script = `const h = require('node:perf_hooks').monitorEventLoopDelay({ resolution: 1 }); h.enable()
    setTimeout(() => console.log(JSON.stringify({ rss: process.resourceUsage().maxRSS / 1024, p99: h.percentile(99) / 1e6, max: h.max / 1e6 })), ${ms})`
  return JSON.parse(execFileSync(process.execPath, ['-e', script]).toString())
}
const idleLine = (idle) => `idle Node process: ${idle.rss.toFixed(0)} MiB peak RSS, event-loop delay p99 ${idle.p99.toFixed(1)} ms, max ${idle.max.toFixed(1)} ms`

// The same idle process while every core is busy at a lower priority, as our compression
// threads are (nice 10): the event-loop delay this machine gives a loop that does nothing.
function idleNodeBesideBusyCores() {
  const busy = os.cpus().map(() => spawn('nice', ['-n', '10', process.execPath, '-e', 'for (;;);'], { stdio: 'ignore' }))
  try {
    return idleNode(5000)
  } finally {
    for (const child of busy) child.kill('SIGKILL')
  }
}

// A Node process whose libuv pool always has one task of about 1 ms running (a PBKDF2, started
// again as each ends), its JS thread busy `busyMs` after each: the event-loop delay this machine
// gives any Node process at that rhythm, whatever does the work.
function nodeWithPoolTasks(busyMs, ms = 3000) {
  const script = `const crypto = require('node:crypto'); const { performance, monitorEventLoopDelay } = require('node:perf_hooks')
    const t = performance.now(); crypto.pbkdf2Sync('x', 'salt', 20000, 32, 'sha512')
    const iterations = Math.max(1, Math.round(20000 / (performance.now() - t)))
    const h = monitorEventLoopDelay({ resolution: 1 }); h.enable()
    const end = performance.now() + ${ms}
    const next = () => crypto.pbkdf2('x', 'salt', iterations, 32, 'sha512', () => {
      if (performance.now() > end) return console.log(JSON.stringify({ p99: h.percentile(99) / 1e6, max: h.max / 1e6 }))
      next()
      const busyUntil = performance.now() + ${busyMs}
      while (performance.now() < busyUntil);
    })
    next()`
  return JSON.parse(execFileSync(process.execPath, ['-e', script]).toString())
}
const poolBaselines = () => [0, 0.35].map((busyMs) => ({ busyMs, ...nodeWithPoolTasks(busyMs) }))
const poolLine = ({ busyMs, p99, max }) =>
  `a Node process keeping one 1 ms task on its thread pool, ${busyMs} ms of JS after each: event-loop delay p99 ${p99.toFixed(1)} ms, max ${max.toFixed(1)} ms`

if (large) {
  runLarge()
  process.exit(0)
}

const corpus = generate(path.join(out, `corpus-${scale}`), scale, extra)
const smallFiles = generateSmallFiles(path.join(out, 'corpus-small-files'))
const smallWork = path.join(out, 'work-small-files')
fs.mkdirSync(smallWork, { recursive: true })
const bytesOf = (dir) => listFiles(dir).reduce((n, f) => n + fs.statSync(path.join(dir, f)).size, 0)
const corpusBytes = bytesOf(corpus)
const smallFilesBytes = bytesOf(smallFiles)
const dbBytes = fs.statSync(path.join(corpus, 'db.txt')).size

function runCase(name, impl, env = {}, corpusDir = corpus, workDir = work) {
  const line = execFileSync(process.execPath, [path.join(__dirname, 'case.js'), name, impl, corpusDir, workDir], {
    env: { ...process.env, ...env },
    maxBuffer: 1 << 20,
  })
  return JSON.parse(line.toString().trim().split('\n').pop())
}

// Import inputs: our exports, kept on disk.
for (const [kind, dir, workDir] of [['plain', corpus, work], ['per-file', corpus, work], ['plain', smallFiles, smallWork]]) {
  if (!fs.existsSync(path.join(workDir, `${kind}.archive`)) || process.env.BENCH_REBUILD) {
    runCase(`export ${kind}`, 'ours', { BENCH_KEEP: path.join(workDir, `${kind}.archive`) }, dir, workDir)
  }
}

const inputBytes = { 'gzip alone': dbBytes, 'envelope alone': dbBytes, 'gunzip alone': corpusBytes + 1e6 }
// [label, the case in case.js, implementations, input]; the small-files corpus runs the plain cases.
const onSmallFiles = { corpus: smallFiles, work: smallWork, bytes: smallFilesBytes }
const cases = [
  ['export plain', 'export plain', ['ours', 'js', 'node-tar']],
  ['export per-file', 'export per-file', ['ours', 'js', 'node-tar']],
  ['export archive-encrypted', 'export archive-encrypted', ['ours', 'js', 'node-tar']],
  ['import plain', 'import plain', ['ours', 'js', 'node-tar']],
  ['import per-file', 'import per-file', ['ours', 'js', 'node-tar']],
  ['export 20,000 small files', 'export plain', ['ours', 'js', 'node-tar'], onSmallFiles],
  ['import 20,000 small files', 'import plain', ['ours', 'js', 'node-tar'], onSmallFiles],
  ['gzip alone', 'gzip alone', ['ours', 'js', 'pigz']],
  ['gunzip alone', 'gunzip alone', ['ours', 'js']],
  ['envelope alone', 'envelope alone', ['ours', 'js']],
].filter(([label]) => label.includes(only))

const median = (xs) => xs.slice().sort((a, b) => a - b)[Math.floor(xs.length / 2)]
const results = []
for (const [label, name, impls, input = {}] of cases) {
  const samples = Object.fromEntries(impls.map((i) => [i, []]))
  for (let r = 0; r < runs; r++) for (const impl of impls) samples[impl].push(runCase(name, impl, {}, input.corpus, input.work))
  for (const impl of impls) {
    const s = samples[impl]
    const seconds = median(s.map((x) => x.seconds))
    results.push({
      case: label,
      impl,
      mbPerSec: (input.bytes || inputBytes[name] || corpusBytes) / 1e6 / seconds,
      seconds,
      cpuSeconds: median(s.map((x) => x.cpuSeconds)),
      peakRssMiB: Math.max(...s.map((x) => x.peakRssMiB)),
      eldP99Ms: median(s.map((x) => x.eldP99Ms)),
      eldMaxMs: Math.max(...s.map((x) => x.eldMaxMs)),
      bytesOut: median(s.map((x) => x.bytesOut)),
    })
  }
}

const ours = (name) => results.find((r) => r.case === name && r.impl === 'ours')
const rows = results.map((r) => [
  r.case,
  r.impl,
  r.mbPerSec.toFixed(1),
  r.cpuSeconds.toFixed(1),
  r.peakRssMiB.toFixed(0),
  r.eldP99Ms.toFixed(1),
  r.eldMaxMs.toFixed(1),
  (r.bytesOut / 1e6).toFixed(1),
  r.impl === 'ours' ? '' : (ours(r.case).mbPerSec / r.mbPerSec).toFixed(2) + 'x',
])
const header = ['case', 'impl', 'MB/s', 'CPU s', 'peak RSS MiB', 'ELD p99 ms', 'ELD max ms', 'out MB', 'ours vs it']
const table = [header, header.map(() => '---'), ...rows].map((r) => `| ${r.join(' | ')} |`).join('\n')
const machine = `${os.cpus().length} x ${os.cpus()[0].model}, ${(os.totalmem() / 2 ** 30).toFixed(0)} GiB, Node ${process.version}`
const idle = idleNode()
const pool = poolBaselines()
console.log(`corpus: ${(corpusBytes / 1e6).toFixed(0)} MB (db.txt ${(dbBytes / 1e6).toFixed(0)} MB), scale ${scale}; small files: ${(smallFilesBytes / 1e6).toFixed(0)} MB; ${runs} runs each, medians\nmachine: ${machine}\n${idleLine(idle)}\n${pool.map(poolLine).join('\n')}\n`)
console.log(table)
fs.writeFileSync(path.join(out, 'results.json'), JSON.stringify({ machine, idle, poolBaselines: pool, scale, runs, corpusBytes, smallFilesBytes, results }, null, 2))

// Peak RSS of the 2 GiB cases above a Node process that loads nothing.
function runLarge() {
  const idle = idleNode()
  const archive = path.join(work, 'large.archive')
  const rows = []
  // Both write the archive to a file; ours is the import's input.
  const jsArchive = path.join(work, 'large-js.archive')
  for (let r = 0; r < runs; r++) {
    rows.push(runCase('sources 2 GiB', 'ours', {}, ''))
    rows.push(runCase('export 2 GiB', 'ours', { BENCH_KEEP: archive }, ''))
    rows.push(runCase('export 2 GiB', 'js', { BENCH_KEEP: jsArchive }, ''))
    rows.push(runCase('import 2 GiB', 'ours', {}, ''))
    rows.push(runCase('import 2 GiB', 'js', {}, ''))
  }
  fs.rmSync(jsArchive, { force: true })
  const busy = idleNodeBesideBusyCores()
  const pool = poolBaselines()
  const appBytes = 2 ** 31
  const ms = (x) => (x === null ? '-' : x.toFixed(1))
  const table = [
    ['case', 'impl', 'GB/s', 'CPU s', 'peak RSS MiB', 'above idle Node MiB', 'ELD p99 ms', 'ELD max ms', 'out MB'],
    ['---', '---', '---', '---', '---', '---', '---', '---', '---'],
    ...rows.map((r) => [r.case, r.impl, (appBytes / 1e9 / r.seconds).toFixed(2), r.cpuSeconds.toFixed(1), r.peakRssMiB.toFixed(0), (r.peakRssMiB - idle.rss).toFixed(0), ms(r.eldP99Ms), ms(r.eldMaxMs), (r.bytesOut / 1e6).toFixed(0)]),
  ]
  console.log(`${idleLine(idle)}\nthe same beside ${os.cpus().length} busy processes at nice 10: event-loop delay p99 ${busy.p99.toFixed(1)} ms, max ${busy.max.toFixed(1)} ms\n${pool.map(poolLine).join('\n')}`)
  console.log(`app: 2 GiB (1 GiB ndjson dump of unknown size, 512 x 2 MiB attachments), generated as it streams; "sources 2 GiB" only drains its sources\n`)
  console.log(table.map((r) => `| ${r.join(' | ')} |`).join('\n'))
  fs.writeFileSync(path.join(out, 'large.json'), JSON.stringify({ idle, idleBesideBusyCores: busy, poolBaselines: pool, results: rows }, null, 2))
}
