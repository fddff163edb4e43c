'use strict'

// The package as users get it: `npm pack` of the package and of this platform's binary
// package (npm/<platform>/, as `napi pre-publish` fills it), installed into a fresh project
// without network access, then used from CommonJS, from an ES module, and from TypeScript
// under `tsc --noEmit --strict`.

const fs = require('node:fs')
const path = require('node:path')
const { spawnSync } = require('node:child_process')
const { run, tmpdir } = require('./helpers')

const root = path.join(__dirname, '..')
const pkg = require('../package.json')
const npm = (args, cwd) => run('npm', [...args, '--no-audit', '--no-fund', '--loglevel=error'], { cwd }).toString()

// This machine's binary package: the napi-rs name of the built .node file.
function platformPackage(work) {
  const binary = fs.readdirSync(root).find((f) => f.startsWith(`${pkg.napi.binaryName}.`) && f.endsWith('.node'))
  const platform = binary.slice(pkg.napi.binaryName.length + 1, -'.node'.length).replace(/\./g, '-')
  const dir = path.join(work, 'platform')
  fs.cpSync(path.join(root, 'npm', platform), dir, { recursive: true })
  fs.copyFileSync(path.join(root, binary), path.join(dir, binary))
  return dir
}

describe('the published package', () => {
  const work = tmpdir('bn-package-')
  let project

  beforeAll(() => {
    const packed = path.join(work, 'packed')
    fs.mkdirSync(packed)
    npm(['pack', '--ignore-scripts', '--pack-destination', packed], root)
    npm(['pack', '--ignore-scripts', '--pack-destination', packed], platformPackage(work))
    project = path.join(work, 'project')
    fs.mkdirSync(project)
    fs.writeFileSync(path.join(project, 'package.json'), JSON.stringify({ name: 'consumer', version: '1.0.0', private: true }))
    const tarballs = fs.readdirSync(packed).map((f) => path.join(packed, f))
    npm(['install', '--offline', '--ignore-scripts', ...tarballs], project)
  })

  test('holds only what runs', () => {
    const installed = path.join(project, 'node_modules', pkg.name)
    const files = fs.readdirSync(installed, { recursive: true }).map(String).sort()
    expect(files.filter((f) => /^(src|__test__|bench|demo|fuzz|npm|target)\b/.test(f) || f.endsWith('.rs'))).toEqual([])
    for (const f of ['index.js', 'index.mjs', 'index.d.ts', 'binding.js', 'lib/app-import.js', 'bin/backup-native.js']) {
      expect(files).toContain(f)
    }
  })

  test('require() works and round-trips through the native addon', () => {
    const out = run('node', ['-e', "const b = require('@app/backup-native'); b.encrypt('hello', 'pw').then((s) => b.decrypt(s, 'pw')).then((p) => console.log(p.toString()))"], {
      cwd: project,
    })
    expect(out.toString().trim()).toBe('hello')
  })

  test('import { createAppExport } from an ES module works', () => {
    const script = `
      import { createAppExport, importAppExport } from '@app/backup-native'
      import { Readable } from 'node:stream'
      const archive = createAppExport({ db: () => Readable.from(['{"_id":"a"}\\n']), files: [] })
      const summary = await importAppExport(archive, { onDb: async (d) => { for await (const c of d) void c }, onFile: async () => {} })
      console.log(summary.format)`
    const out = run('node', ['--input-type=module', '-e', script], { cwd: project })
    expect(out.toString().trim()).toBe('tar.gz')
    // index.mjs names every export of index.js.
    const names = `
      import * as esm from '@app/backup-native'
      import { createRequire } from 'node:module'
      const cjs = createRequire(import.meta.url)('@app/backup-native')
      console.log(JSON.stringify([Object.keys(esm).filter((k) => k !== 'default').sort(), Object.keys(cjs).sort()]))`
    const [esm, cjs] = JSON.parse(run('node', ['--input-type=module', '-e', names], { cwd: project }).toString())
    expect(esm).toEqual(cjs)
  })

  test('a TypeScript consumer of every export type-checks with --strict, and wrong usages do not', () => {
    for (const f of ['uses-every-export.ts', 'wrong-usages.ts']) fs.copyFileSync(path.join(__dirname, 'consumer', f), path.join(project, f))
    const tsc = path.join(root, 'node_modules/typescript/bin/tsc')
    const args = ['--noEmit', '--strict', '--module', 'nodenext', '--moduleResolution', 'nodenext', '--target', 'es2022', '--types', 'node', '--typeRoots', path.join(root, 'node_modules/@types')]
    run('node', [tsc, ...args, 'uses-every-export.ts', 'wrong-usages.ts'], { cwd: project })
    // The wrong usages, without their @ts-expect-error markers, are each an error.
    const bare = fs.readFileSync(path.join(project, 'wrong-usages.ts'), 'utf8').replace(/\/\/ @ts-expect-error.*\n/g, '')
    fs.writeFileSync(path.join(project, 'bare.ts'), bare)
    const bad = spawnSync('node', [tsc, ...args, 'bare.ts'], { cwd: project, encoding: 'utf8' })
    expect(bad.status).not.toBe(0)
    const lines = new Set((bad.stdout.match(/bare\.ts\((\d+),\d+\): error/g) || []).map((m) => m.match(/\((\d+)/)[1]))
    expect(lines.size).toBe((bare.match(/^[a-z].*$/gm) || []).filter((l) => !l.startsWith('import')).length)
  })
})
