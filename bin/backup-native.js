#!/usr/bin/env node
'use strict'

// backup-native export <dir> -o <file> | import <file> -C <dir> | list <file> | verify <file>
// The password comes from --password-file or BACKUP_PASSWORD, never from argv.

const fs = require('node:fs')
const { pipeline } = require('node:stream/promises')
const { Transform } = require('node:stream')
const lib = require('..')

const USAGE = `usage:
  backup-native export <dir> -o <file> [--level N] [--archive-encryption]
  backup-native import <file> -C <dir>
  backup-native list <file>
  backup-native verify <file>
options: --password-file <file> (or BACKUP_PASSWORD in the environment), --quiet`

class UsageError extends Error {}

function parse(argv) {
  const args = { positional: [], level: 6, quiet: false, archive: false }
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]
    const value = () => {
      if (i + 1 >= argv.length) throw new UsageError(`${a} needs a value`)
      return argv[++i]
    }
    if (a === '-o' || a === '--output') args.output = value()
    else if (a === '-C' || a === '--directory') args.directory = value()
    else if (a === '--password-file') args.passwordFile = value()
    else if (a === '--level') args.level = Number(value())
    else if (a === '--archive-encryption') args.archive = true
    else if (a === '--quiet' || a === '-q') args.quiet = true
    else if (a === '-h' || a === '--help') args.help = true
    else if (a.startsWith('-')) throw new UsageError(`unknown option ${a}${a.startsWith('--password') ? ' (use --password-file or BACKUP_PASSWORD)' : ''}`)
    else args.positional.push(a)
  }
  if (!Number.isInteger(args.level) || args.level < 0 || args.level > 9) throw new UsageError('--level must be 0-9')
  return args
}

function password(args) {
  if (args.passwordFile) return fs.readFileSync(args.passwordFile, 'utf8').replace(/\r?\n$/, '')
  return process.env.BACKUP_PASSWORD || undefined
}

// A progress line on a terminal: bytes, rate and (when the total is known) ETA.
function progress(args, total) {
  const started = Date.now()
  let bytes = 0
  let last = 0
  const show = !args.quiet && process.stderr.isTTY
  const draw = (final) => {
    if (!show) return
    const seconds = (Date.now() - started) / 1000
    const rate = bytes / Math.max(seconds, 0.001)
    let line = `${(bytes / 1e6).toFixed(1)} MB  ${(rate / 1e6).toFixed(1)} MB/s`
    if (total) line += `  ${Math.min(100, (100 * bytes) / total).toFixed(0)}%  ETA ${Math.max(0, (total - bytes) / rate).toFixed(0)}s`
    process.stderr.write(`\r${line}\x1b[K${final ? '\n' : ''}`)
  }
  return {
    meter: new Transform({
      transform(chunk, encoding, callback) {
        bytes += chunk.length
        if (Date.now() - last > 200) {
          last = Date.now()
          draw(false)
        }
        callback(null, chunk)
      },
    }),
    done: () => draw(true),
  }
}

async function main(argv) {
  const args = parse(argv)
  const [command, target] = args.positional
  if (args.help) {
    process.stdout.write(USAGE + '\n')
    return 0
  }
  if (!command || !target || args.positional.length > 2) throw new UsageError('missing or extra arguments')
  const pw = password(args)
  const drain = async (s) => {
    for await (const c of s) void c
  }
  switch (command) {
    case 'export': {
      if (!args.output) throw new UsageError('export needs -o <file>')
      const { meter, done } = progress(args)
      const archive = lib.exportDirectory(target, { password: pw, level: args.level, encryption: args.archive ? 'archive' : 'per-file' })
      await pipeline(archive, meter, fs.createWriteStream(args.output, { flags: 'wx' }))
      done()
      return 0
    }
    case 'import': {
      if (!args.directory) throw new UsageError('import needs -C <dir>')
      const { meter, done } = progress(args, fs.statSync(target).size)
      const summary = await lib.extractToDirectory(fs.createReadStream(target).pipe(meter), args.directory, { password: pw })
      done()
      if (!args.quiet) process.stdout.write(`${summary.format}: db.txt (${summary.dbBytes} bytes) and ${summary.files} files (${summary.bytes} bytes)\n`)
      return 0
    }
    case 'list': {
      const summary = await lib.importAppExport(target, {
        password: pw,
        onDb: async (s) => {
          await drain(s)
        },
        onFile: async (name, data) => {
          let n = 0
          for await (const c of data) n += c.length
          process.stdout.write(`${String(n).padStart(12)}  ${name}\n`)
        },
        concurrency: 1,
      })
      process.stdout.write(`${String(summary.dbBytes).padStart(12)}  db.txt\n`)
      return 0
    }
    case 'verify': {
      const summary = await lib.importAppExport(target, { password: pw, onDb: drain, onFile: (n, d) => drain(d) })
      if (!args.quiet) process.stdout.write(`ok: ${summary.format}${summary.encrypted ? ', encrypted' : ''}, ${summary.files} files, ${summary.bytes + summary.dbBytes} bytes\n`)
      return 0
    }
    default:
      throw new UsageError(`unknown command ${command}`)
  }
}

main(process.argv.slice(2)).then(
  (code) => (process.exitCode = code),
  (err) => {
    if (err instanceof UsageError) {
      process.stderr.write(`error: ${err.message}\n${USAGE}\n`)
      process.exitCode = 2
    } else {
      process.stderr.write(`error: ${err.message} (${err.code || 'E_INTERNAL'})\n`)
      process.exitCode = 1
    }
  },
)
