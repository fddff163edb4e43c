'use strict'

const fs = require('node:fs')
const path = require('node:path')
const crypto = require('node:crypto')
const { spawnSync, spawn } = require('node:child_process')
const { exportDirectory, extractToDirectory } = require('..')
const { collect, rejection, tmpdir } = require('./helpers')

const CLI = path.join(__dirname, '..', 'bin', 'backup-native.js')

function cli(args, env = {}) {
  const r = spawnSync(process.execPath, [CLI, ...args], { env: { ...process.env, ...env, BACKUP_PASSWORD: env.BACKUP_PASSWORD || '' } })
  return { code: r.status, out: r.stdout.toString(), err: r.stderr.toString() }
}

function makeAppDir() {
  const dir = tmpdir('bn-appdir-')
  const files = {
    'db.txt': '{"version":1}\n{"docs":[{"_id":"a","_rev":"1-a"}]}\n'.repeat(1000),
    'manifest.json': '{"name":"app"}',
    'chunks/a.js': 'export default 1',
    'attachments/photo.jpg': crypto.randomBytes(100000),
  }
  for (const [name, data] of Object.entries(files)) {
    fs.mkdirSync(path.join(dir, path.dirname(name)), { recursive: true })
    fs.writeFileSync(path.join(dir, name), data)
  }
  return { dir, files }
}

function expectSameDir(dir, files) {
  for (const [name, data] of Object.entries(files)) {
    expect([name, fs.readFileSync(path.join(dir, name)).equals(Buffer.from(data))]).toEqual([name, true])
  }
}

describe('folders', () => {
  test('exportDirectory -> extractToDirectory round trip, plain and encrypted', async () => {
    const { dir, files } = makeAppDir()
    for (const password of [undefined, 'pw']) {
      const archive = await collect(exportDirectory(dir, { password }))
      const out = path.join(tmpdir('bn-out-'), 'x')
      const summary = await extractToDirectory(archive, out, { password })
      expect(summary).toMatchObject({ files: 3, encrypted: !!password })
      expectSameDir(out, files)
    }
  })

  test('a symlink already in the target is never followed, and nothing half-written stays', async () => {
    const { dir } = makeAppDir()
    const archive = await collect(exportDirectory(dir))
    const outside = tmpdir('bn-outside-')
    const out = tmpdir('bn-target-')
    fs.symlinkSync(outside, path.join(out, 'chunks'))
    const err = await rejection(extractToDirectory(archive, out))
    expect(err.code).toBe('E_LINK_ESCAPE')
    expect(fs.readdirSync(outside)).toEqual([])
    const leftovers = fs.readdirSync(out, { recursive: true }).filter((n) => n.endsWith('.partial'))
    expect(leftovers).toEqual([])
  })

  test('exportDirectory: many files, small ones read in batches, as GNU tar extracts them', async () => {
    // More files than one batch, small ones past the batch's read budget (so some come by
    // stream), a file of exactly the small-file size and one just over, and an empty one.
    const dir = tmpdir('bn-appdir-')
    const files = { 'db.txt': 'dump\n'.repeat(1000), 'empty.txt': '' }
    for (let i = 0; i < 90; i++) files[`chunks/${String(i).padStart(2, '0')}.bin`] = crypto.randomBytes(i < 30 ? 200_000 : 1000 + i)
    files['attachments/edge.bin'] = crypto.randomBytes(256 * 1024)
    files['attachments/over.bin'] = crypto.randomBytes(256 * 1024 + 1)
    let second = 1_700_000_000
    for (const [name, data] of Object.entries(files)) {
      fs.mkdirSync(path.join(dir, path.dirname(name)), { recursive: true })
      fs.writeFileSync(path.join(dir, name), data)
      second += 61
      fs.utimesSync(path.join(dir, name), second, second)
    }
    const archive = await collect(exportDirectory(dir))
    const out = tmpdir('bn-out-')
    const tarball = path.join(out, 'app.tar.gz')
    fs.writeFileSync(tarball, archive)
    const r = spawnSync('tar', ['-xzf', tarball, '-C', out])
    expect(r.status).toBe(0)
    for (const [name, data] of Object.entries(files)) {
      const file = path.join(out, name)
      expect([name, fs.readFileSync(file).equals(Buffer.from(data))]).toEqual([name, true])
      if (name === 'db.txt') continue // the dump is stamped with the export's time
      expect([name, Math.floor(fs.statSync(file).mtimeMs / 1000)]).toEqual([name, Math.floor(fs.statSync(path.join(dir, name)).mtimeMs / 1000)])
    }
  })

  test('exportDirectory: a file gone between listing and reading fails the export, naming it', async () => {
    const { dir } = makeAppDir()
    const fsp = require('node:fs/promises')
    const readdir = fsp.readdir
    // The race, made certain: the listing of the folder names a file that is no longer there.
    const spy = jest.spyOn(fsp, 'readdir').mockImplementation(async (where, options) => {
      const entries = await readdir(where, options)
      if (where !== dir) return entries
      return [...entries, { name: 'gone.json', isFile: () => true, isDirectory: () => false }]
    })
    try {
      const err = await rejection(collect(exportDirectory(dir)))
      expect(err).toBeInstanceOf(Error)
      expect(err.code).toBe('E_SOURCE_ERROR')
      expect(err.entryName).toBe('gone.json')
      expect(err.message).toMatch(/gone\.json/)
    } finally {
      spy.mockRestore()
    }
  })

  test('an existing file is not overwritten', async () => {
    const { dir } = makeAppDir()
    const archive = await collect(exportDirectory(dir))
    const out = tmpdir('bn-target-')
    fs.writeFileSync(path.join(out, 'manifest.json'), 'mine')
    expect((await rejection(extractToDirectory(archive, out))).code).toBe('E_DUPLICATE_ENTRY')
    expect(fs.readFileSync(path.join(out, 'manifest.json'), 'utf8')).toBe('mine')
  })
})

describe('the CLI', () => {
  test('export, verify, list, import; exit codes', () => {
    const { dir, files } = makeAppDir()
    const work = tmpdir('bn-cli-')
    const archive = path.join(work, 'app.enc.tar.gz')
    const pwFile = path.join(work, 'pw')
    fs.writeFileSync(pwFile, 's3cret\n')
    expect(cli(['export', dir, '-o', archive, '--password-file', pwFile, '--level', '1'])).toMatchObject({ code: 0 })
    expect(cli(['verify', archive], { BACKUP_PASSWORD: 's3cret' })).toMatchObject({ code: 0, out: expect.stringContaining('ok: tar.gz, encrypted, 3 files') })
    const list = cli(['list', archive, '--password-file', pwFile])
    expect(list.code).toBe(0)
    expect(list.out).toMatch(/attachments\/photo\.jpg/)
    const bad = cli(['verify', archive], { BACKUP_PASSWORD: 'wrong' })
    expect(bad).toMatchObject({ code: 1, err: 'error: File cannot be imported (E_BAD_PASSWORD)\n' })
    expect(cli(['verify', archive]).err).toMatch(/no password has been supplied.*E_PASSWORD_REQUIRED/)
    const out = path.join(work, 'imported')
    expect(cli(['import', archive, '-C', out, '--password-file', pwFile, '--quiet'])).toMatchObject({ code: 0 })
    expectSameDir(out, files)
    expect(cli(['export', dir])).toMatchObject({ code: 2 })
    expect(cli(['frobnicate', dir]).code).toBe(2)
    const argvPassword = cli(['verify', archive, '--password', 's3cret'])
    expect(argvPassword.code).toBe(2)
    expect(argvPassword.err).toMatch(/BACKUP_PASSWORD/)
    expect(cli(['verify', path.join(work, 'missing.tgz')]).err).not.toMatch(/\n\s+at /) // no stack trace
  })

  test('the password never shows in ps output', async () => {
    const { dir } = makeAppDir()
    const work = tmpdir('bn-cli-')
    const archive = await collect(exportDirectory(dir, { password: 'visible-if-leaked' }))
    const fifo = path.join(work, 'upload.fifo')
    spawnSync('mkfifo', [fifo])
    // The child blocks on the FIFO, so it is surely running while ps looks.
    const child = spawn(process.execPath, [CLI, 'verify', fifo], { env: { ...process.env, BACKUP_PASSWORD: 'visible-if-leaked' } })
    const exited = new Promise((resolve) => child.on('exit', resolve))
    let ps = ''
    for (let i = 0; i < 50 && !/backup-native\.js verify/.test(ps); i++) {
      await new Promise((resolve) => setTimeout(resolve, 100))
      ps = spawnSync('ps', ['-eo', 'args']).stdout.toString()
    }
    fs.writeFileSync(fifo, archive)
    expect(await exited).toBe(0)
    expect(ps).toMatch(/backup-native\.js verify/)
    expect(ps).not.toMatch(/visible-if-leaked/)
  })
})

test('an aborted extraction leaves no partial file', async () => {
  const { dir } = makeAppDir()
  fs.writeFileSync(path.join(dir, 'attachments', 'big.bin'), crypto.randomBytes(30 << 20))
  const archive = await collect(exportDirectory(dir, { level: 1 }))
  const out = tmpdir('bn-abort-')
  const controller = new AbortController()
  const { Readable } = require('node:stream')
  let sent = 0
  const slow = new Readable({
    read() {
      if (sent >= archive.length) return this.push(null)
      const piece = archive.subarray(sent, (sent += 256 * 1024))
      if (sent > archive.length / 2) controller.abort()
      setTimeout(() => this.push(piece), 1)
    },
  })
  const err = await rejection(extractToDirectory(slow, out, { signal: controller.signal }))
  expect(err.code).toBe('E_ABORTED')
  await new Promise((resolve) => setTimeout(resolve, 100))
  const names = fs.readdirSync(out, { recursive: true })
  expect(names.filter((n) => n.endsWith('.partial'))).toEqual([])
  expect(names).not.toContain(path.join('attachments', 'big.bin'))
})
