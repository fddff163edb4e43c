'use strict'

// Writes fuzz/seeds/<target>/: the hostile corpus (built the way the tests build it) and
// valid archives, each prefixed by the piece-size byte the fuzz targets read first.

const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const zlib = require('node:zlib')
const { buildCorpus, VALID, PASSWORD } = require('../__test__/hostile/corpus')
const { nodeEncrypt } = require('../__test__/helpers')

const TARGETS = ['tar_reader', 'gzip_reader', 'envelope', 'app_import']
const seeds = path.join(__dirname, 'seeds')
const work = fs.mkdtempSync(path.join(os.tmpdir(), 'bn-seed-'))

const inputs = buildCorpus(work).map((c) => [c.id, c.bytes])
inputs.push(['valid.tar', VALID], ['valid.tgz', zlib.gzipSync(VALID)], ['valid.tar.enc', nodeEncrypt(VALID, 'fuzz')])
inputs.push(['db.enc', nodeEncrypt(Buffer.from('{"_id":"app"}\n'), 'fuzz')], ['corpus-password.enc', nodeEncrypt(VALID, PASSWORD)])

for (const target of TARGETS) {
  const dir = path.join(seeds, target)
  fs.rmSync(dir, { recursive: true, force: true })
  fs.mkdirSync(dir, { recursive: true })
  for (const [id, bytes] of inputs) {
    if (bytes.length > 1 << 20) continue // the fuzzers' inputs stay small
    fs.writeFileSync(path.join(dir, id), Buffer.concat([Buffer.from([7]), bytes]))
  }
}
fs.rmSync(work, { recursive: true, force: true })
console.log(`${inputs.length} seeds for each of ${TARGETS.join(', ')} in ${seeds}`)
