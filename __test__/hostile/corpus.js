'use strict'

// The hostile corpus, built at test time: hand-built tar bytes, Python's tarfile, GNU tar,
// gzip and pigz, and Node-made envelopes. Each case names the code it must fail with.
//
// A case: { id, bytes, code, via, options, diskCode, index }
//   via      'both' (default): extract({ policy: 'strict' }) and extractToDirectory();
//            'extract': the stream only; 'disk': extractToDirectory() only (app-level rules)
//   options  extract/import options (limits, allowLinks, password)
//   diskCode the code extractToDirectory() gives when it differs (folder rules are stricter)
//   index    the entryIndex the error must carry, where the failing entry is known

const fs = require('node:fs')
const path = require('node:path')
const zlib = require('node:zlib')
const { header, entry, pax, paxRecords, gnuLong, tar, END, BLOCK } = require('./tar-bytes')
const { run, nodeEncrypt } = require('../helpers')

const PASSWORD = 'correct horse'
const DB = entry({ name: 'db.txt' }, '{"_id":"app"}\n')
const FILE = entry({ name: 'attachments/a.txt' }, 'hello')
// A valid app archive to break in the ways below.
const VALID = tar(DB, FILE)

const gzip = (bytes, level = 6) => zlib.gzipSync(bytes, { level })

function withByte(bytes, offset, value) {
  const copy = Buffer.from(bytes)
  copy[offset < 0 ? copy.length + offset : offset] = value
  return copy
}

// Archives only real tools write, made once into `dir`.
function toolArchives(dir) {
  const tree = path.join(dir, 'tree')
  fs.mkdirSync(path.join(tree, 'attachments'), { recursive: true })
  fs.writeFileSync(path.join(tree, 'db.txt'), '{"_id":"app"}\n')
  fs.writeFileSync(path.join(tree, 'attachments/a.txt'), 'hello')
  fs.linkSync(path.join(tree, 'attachments/a.txt'), path.join(tree, 'attachments/hard.txt'))
  fs.symlinkSync('/etc/passwd', path.join(tree, 'attachments/passwd'))
  run('mkfifo', [path.join(tree, 'attachments/fifo')])
  const out = (name) => path.join(dir, name)
  const gnu = (name, args) => {
    run('tar', ['-cf', out(name), ...args])
    return fs.readFileSync(out(name))
  }
  const python = (name, body) => {
    const script = `import io, sys, tarfile\nt = tarfile.open(sys.argv[1], 'w', format=tarfile.PAX_FORMAT)\ndef add(name, data=b'', **kw):\n    i = tarfile.TarInfo(name)\n    i.size = len(data)\n    for k, v in kw.items(): setattr(i, k, v)\n    t.addfile(i, io.BytesIO(data))\nadd('db.txt', b'{}\\n')\n${body}\nt.close()`
    run('python3', ['-c', script, out(name)])
    return fs.readFileSync(out(name))
  }
  return {
    gnuSymlink: gnu('gnu-symlink.tar', ['-C', tree, 'db.txt', 'attachments/passwd']),
    gnuHardlink: gnu('gnu-hardlink.tar', ['-C', tree, 'db.txt', 'attachments/a.txt', 'attachments/hard.txt']),
    gnuFifo: gnu('gnu-fifo.tar', ['-C', tree, 'db.txt', 'attachments/fifo']),
    gnuDotDot: gnu('gnu-dotdot.tar', ['-C', tree, '--transform', 's,^attachments,../attachments,', 'db.txt', 'attachments/a.txt']),
    gnuAbsolute: gnu('gnu-absolute.tar', ['-P', '-C', tree, 'db.txt', path.join(tree, 'attachments/a.txt')]),
    gnuGzip: (() => {
      run('tar', ['-czf', out('gnu.tgz'), '-C', tree, 'db.txt', 'attachments/a.txt'])
      return fs.readFileSync(out('gnu.tgz'))
    })(),
    pyDotDot: python('py-dotdot.tar', "add('../../evil.txt', b'x')"),
    pyAbsolute: python('py-absolute.tar', "add('/tmp/evil.txt', b'x')"),
    pySymlinkEscape: python('py-symlink.tar', "add('attachments/up', type=tarfile.SYMTYPE, linkname='../../outside')"),
    pyHardlinkEscape: python('py-hardlink.tar', "add('attachments/h', type=tarfile.LNKTYPE, linkname='../outside/secret.txt')"),
    pyChar: python('py-char.tar', "add('dev/null', type=tarfile.CHRTYPE, devmajor=1, devminor=3)"),
    pyBlock: python('py-block.tar', "add('dev/sda', type=tarfile.BLKTYPE, devmajor=8, devminor=0)"),
    pyFifo: python('py-fifo.tar', "add('attachments/pipe', type=tarfile.FIFOTYPE)"),
    pyDuplicate: python('py-duplicate.tar', "add('a.txt', b'1')\nadd('a.txt', b'2')"),
    pyPaxDotDot: python('py-pax-dotdot.tar', "add('x', b'x', pax_headers={'path': 'a/../../evil'})"),
    pyLinkThenWrite: python(
      'py-link-write.tar',
      "add('attachments/dir', type=tarfile.SYMTYPE, linkname='../../outside')\nadd('attachments/dir/evil.txt', b'x')",
    ),
  }
}

// A gzip member whose optional header fields are set by hand (RFC 1952).
function gzipWithHeader(plain, { flags = 0, extra, name, comment, method = 8, headerCrc } = {}) {
  const body = zlib.deflateRawSync(plain)
  const parts = [Buffer.from([0x1f, 0x8b, method, flags, 0, 0, 0, 0, 0, 3])]
  if (extra) parts.push(Buffer.from([extra.length & 0xff, extra.length >> 8]), extra)
  if (name) parts.push(Buffer.from(name, 'latin1'), Buffer.alloc(1))
  if (comment) parts.push(Buffer.from(comment, 'latin1'), Buffer.alloc(1))
  if (headerCrc !== undefined) parts.push(Buffer.from([headerCrc & 0xff, headerCrc >> 8]))
  const trailer = Buffer.alloc(8)
  trailer.writeUInt32LE(zlib.crc32 ? zlib.crc32(plain) : crc32(plain), 0)
  trailer.writeUInt32LE(plain.length >>> 0, 4)
  return Buffer.concat([...parts, body, trailer])
}

function crc32(bytes) {
  let c = ~0
  for (const b of bytes) {
    c ^= b
    for (let k = 0; k < 8; k++) c = (c >>> 1) ^ (0xedb88320 & -(c & 1))
  }
  return ~c >>> 0
}

function buildCorpus(dir) {
  const tools = toolArchives(dir)
  const cases = []
  const add = (id, bytes, code, more = {}) => cases.push({ id, bytes, code, via: 'both', options: {}, ...more })
  const file = (name, data = 'x', more = {}) => entry({ name, ...more }, data)
  const withDb = (...parts) => tar(DB, ...parts)

  // Names: traversal in every spelling, absolute and rooted names, drives, UNC, separators.
  add('dotdot', withDb(file('../evil.txt')), 'E_PATH_TRAVERSAL', { index: 1 })
  add('dotdot-nested', withDb(file('attachments/../../evil.txt')), 'E_PATH_TRAVERSAL', { index: 1 })
  add('dotdot-trailing', withDb(file('attachments/..', '', { type: '5' })), 'E_PATH_TRAVERSAL', { index: 1 })
  add('dot-then-dotdot', withDb(file('./../evil.txt')), 'E_PATH_TRAVERSAL', { index: 1 })
  add('absolute', withDb(file('/tmp/evil.txt')), 'E_PATH_ABSOLUTE', { index: 1 })
  add('rooted-double-slash', withDb(file('//server/share/evil.txt')), 'E_PATH_ABSOLUTE', { index: 1 })
  add('drive-letter', withDb(file('C:/evil.txt')), 'E_PATH_ABSOLUTE', { index: 1 })
  add('drive-relative', withDb(file('C:evil.txt')), 'E_PATH_ABSOLUTE', { index: 1 })
  add('unc', withDb(file('\\\\server\\share\\evil.txt')), 'E_PATH_ABSOLUTE', { index: 1 })
  add('backslash-rooted', withDb(file('\\evil.txt')), 'E_PATH_ABSOLUTE', { index: 1 })
  add('backslash-dotdot', withDb(file('a\\..\\..\\evil.txt')), 'E_PATH_INVALID', { index: 1 })
  add('empty-component', withDb(file('attachments//evil.txt')), 'E_PATH_INVALID', { index: 1 })
  add('empty-name', withDb(file('')), 'E_PATH_INVALID', { index: 1 })
  add('nul-in-long-name', withDb(gnuLong('a\0b.txt'), file('x')), 'E_PATH_INVALID', { index: 1 })
  add('nul-in-pax-path', withDb(pax([['path', 'a\0b']]), file('x')), 'E_PAX_INVALID')
  add('fullwidth-dots', withDb(pax([['path', 'a/\uff0e\uff0e/\uff0e\uff0e/evil.txt']]), file('x')), 'E_PATH_TRAVERSAL', { index: 1 })
  add('two-dot-leader', withDb(pax([['path', '\u2025/evil.txt']]), file('x')), 'E_PATH_TRAVERSAL', { index: 1 })
  add('one-dot-leaders', withDb(pax([['path', 'a/\u2024\u2024/\u2024\u2024/evil.txt']]), file('x')), 'E_PATH_TRAVERSAL', { index: 1 })
  add('fullwidth-solidus', withDb(pax([['path', 'a\uff0f..\uff0f..\uff0fevil.txt']]), file('x')), 'E_PATH_INVALID', { index: 1 })
  add('pax-path-overrides-benign-name', withDb(pax([['path', '../evil.txt']]), file('benign.txt')), 'E_PATH_TRAVERSAL', { index: 1 })
  add('gnu-long-name-dotdot', withDb(gnuLong('../evil.txt'), file('benign.txt')), 'E_PATH_TRAVERSAL', { index: 1 })
  add('ustar-prefix-dotdot', withDb(file('evil.txt', 'x', { prefix: '..' })), 'E_PATH_TRAVERSAL', { index: 1 })
  add('ustar-prefix-absolute', withDb(file('evil.txt', 'x', { prefix: '/tmp' })), 'E_PATH_ABSOLUTE', { index: 1 })
  add('python-dotdot', tools.pyDotDot, 'E_PATH_TRAVERSAL', { index: 1 })
  add('python-absolute', tools.pyAbsolute, 'E_PATH_ABSOLUTE', { index: 1 })
  add('python-pax-path-dotdot', tools.pyPaxDotDot, 'E_PATH_TRAVERSAL', { index: 1 })
  add('gnu-tar-transform-dotdot', tools.gnuDotDot, 'E_PATH_TRAVERSAL', { index: 1 })
  add('gnu-tar-absolute-names', tools.gnuAbsolute, 'E_PATH_ABSOLUTE', { index: 1 })

  // Links: rejected by default; with allowLinks (extract only), only links that stay inside.
  const link = (name, target, type = '2') => header({ name, type, linkname: target })
  add('symlink', withDb(link('attachments/l', 'a.txt')), 'E_ENTRY_TYPE_UNSUPPORTED', { index: 1 })
  add('hardlink', withDb(FILE, link('attachments/h', 'attachments/a.txt', '1')), 'E_ENTRY_TYPE_UNSUPPORTED', { index: 2 })
  add('gnu-tar-symlink-to-etc', tools.gnuSymlink, 'E_ENTRY_TYPE_UNSUPPORTED', { index: 1 })
  add('gnu-tar-hardlink', tools.gnuHardlink, 'E_ENTRY_TYPE_UNSUPPORTED', { index: 2 })
  add('python-symlink-escape', tools.pySymlinkEscape, 'E_ENTRY_TYPE_UNSUPPORTED', { index: 1 })
  add('python-hardlink-escape', tools.pyHardlinkEscape, 'E_ENTRY_TYPE_UNSUPPORTED', { index: 1 })
  add('python-link-then-write-through-it', tools.pyLinkThenWrite, 'E_ENTRY_TYPE_UNSUPPORTED', { index: 1 })
  const links = { via: 'extract', options: { allowLinks: true } }
  add('allowed-symlink-escape', withDb(link('attachments/l', '../../outside')), 'E_LINK_ESCAPE', { ...links, index: 1 })
  add('allowed-symlink-absolute', withDb(link('attachments/l', '/etc/passwd')), 'E_LINK_ESCAPE', { ...links, index: 1 })
  add('allowed-symlink-lookalike-dots', withDb(link('attachments/l', '\uff0e\uff0e/\uff0e\uff0e/x')), 'E_LINK_ESCAPE', { ...links, index: 1 })
  add('allowed-hardlink-escape', withDb(link('h', '../outside/secret.txt', '1')), 'E_LINK_ESCAPE', { ...links, index: 1 })
  add('allowed-hardlink-forward', withDb(link('h', 'later.txt', '1'), file('later.txt')), 'E_LINK_ESCAPE', { ...links, index: 1 })
  add('allowed-link-then-write-through-it', withDb(link('dir', '..'), file('dir/evil.txt')), 'E_LINK_ESCAPE', { ...links, index: 1 })
  add('allowed-duplicate-replaces-file-by-link', withDb(file('a.txt'), link('a.txt', 'db.txt')), 'E_DUPLICATE_ENTRY', { ...links, index: 2 })
  add('pax-linkpath-escape', withDb(pax([['linkpath', '../../outside']]), link('l', 'benign')), 'E_LINK_ESCAPE', { ...links, index: 1 })
  add('duplicate-replaces-file-by-link', withDb(file('a.txt'), link('a.txt', '../outside/secret.txt')), 'E_ENTRY_TYPE_UNSUPPORTED', { index: 2 })

  // Entry types that are never created.
  add('char-device', withDb(header({ name: 'dev/null', type: '3' })), 'E_ENTRY_TYPE_UNSUPPORTED', { index: 1 })
  add('block-device', withDb(header({ name: 'dev/sda', type: '4' })), 'E_ENTRY_TYPE_UNSUPPORTED', { index: 1 })
  add('fifo', withDb(header({ name: 'pipe', type: '6' })), 'E_ENTRY_TYPE_UNSUPPORTED', { index: 1 })
  add('unknown-typeflag', withDb(file('x', 'x', { type: 'Z' })), 'E_ENTRY_TYPE_UNSUPPORTED', { index: 1 })
  add('gnu-sparse', withDb(file('x', 'x', { type: 'S' })), 'E_ENTRY_TYPE_UNSUPPORTED', { index: 1 })
  add('python-char-device', tools.pyChar, 'E_ENTRY_TYPE_UNSUPPORTED', { index: 1 })
  add('python-block-device', tools.pyBlock, 'E_ENTRY_TYPE_UNSUPPORTED', { index: 1 })
  add('python-fifo', tools.pyFifo, 'E_ENTRY_TYPE_UNSUPPORTED', { index: 1 })
  add('gnu-tar-fifo', tools.gnuFifo, 'E_ENTRY_TYPE_UNSUPPORTED', { index: 1 })
  add('directory-with-data', withDb(entry({ name: 'd/', type: '5' }, 'data')), 'E_HEADER_INVALID')
  add('fifo-with-size', withDb(entry({ name: 'p', type: '6' }, 'data')), 'E_HEADER_INVALID')

  // Duplicates and collisions.
  add('duplicate', withDb(file('a.txt'), file('a.txt')), 'E_DUPLICATE_ENTRY', { index: 2 })
  add('duplicate-after-dot-prefix', withDb(file('a.txt'), file('./a.txt')), 'E_DUPLICATE_ENTRY', { index: 2 })
  add('file-over-directory', withDb(header({ name: 'd/', type: '5' }), file('d')), 'E_DUPLICATE_ENTRY', { index: 2 })
  add('python-duplicate', tools.pyDuplicate, 'E_DUPLICATE_ENTRY', { index: 2 })
  add('duplicate-db', tar(DB, DB), 'E_DUPLICATE_ENTRY', { index: 1 })
  add('plain-and-enc-name', withDb(file('a.png'), file('a.png.enc', nodeEncrypt(Buffer.from('x'), PASSWORD))), 'E_DUPLICATE_ENTRY', {
    via: 'disk',
    options: { password: PASSWORD },
    index: 2,
  })
  add('case-collision', withDb(file('Photo.PNG'), file('photo.png')), 'E_PATH_COLLISION', { via: 'disk', index: 2 })
  add('unicode-collision', withDb(file('caf\u00e9.txt'), file('cafe\u0301.txt')), 'E_PATH_COLLISION', { via: 'disk', index: 2 })
  add('file-where-a-folder-goes', withDb(file('a'), file('a/b.txt')), 'E_PATH_COLLISION', { via: 'disk', index: 2 })
  add('folder-where-a-file-goes', withDb(file('A/b.txt'), file('a')), 'E_PATH_COLLISION', { via: 'disk', index: 2 })
  add('pre-existing-symlink-in-target', withDb(file('escape/evil.txt')), 'E_LINK_ESCAPE', { via: 'disk' })
  add('pre-existing-file-in-target', withDb(file('existing.txt')), 'E_DUPLICATE_ENTRY', { via: 'disk' })

  // PAX and GNU extension headers: next-header scope, PAX wins, ambiguity rejected.
  add('pax-length-wrong', withDb(pax(['11 path=a\n']), file('x')), 'E_PAX_INVALID')
  add('pax-no-equals', withDb(pax(['9 pathab\n']), file('x')), 'E_PAX_INVALID')
  add('pax-no-newline', withDb(pax(['9 path=ab']), file('x')), 'E_PAX_INVALID')
  add('pax-length-not-a-number', withDb(pax(['x9 path=a\n']), file('x')), 'E_PAX_INVALID')
  add('pax-size-not-a-number', withDb(pax([['size', '12abc']]), file('x')), 'E_PAX_INVALID')
  add('pax-size-negative', withDb(pax([['size', '-1']]), file('x')), 'E_PAX_INVALID')
  add('pax-size-overflow', withDb(pax([['size', '99999999999999999999999']]), file('x')), 'E_PAX_INVALID')
  add('pax-mtime-garbage', withDb(pax([['mtime', 'yesterday']]), file('x')), 'E_PAX_INVALID')
  add('pax-duplicate-key', withDb(pax([['path', 'a'], ['path', 'b']]), file('x')), 'E_AMBIGUOUS_HEADER')
  add('two-pax-headers', withDb(pax([['path', 'a']]), pax([['path', 'b']]), file('x')), 'E_AMBIGUOUS_HEADER')
  add('pax-and-gnu-long-name', withDb(pax([['path', 'a']]), gnuLong('b'), file('x')), 'E_AMBIGUOUS_HEADER')
  add('two-gnu-long-names', withDb(gnuLong('a'), gnuLong('b'), file('x')), 'E_AMBIGUOUS_HEADER')
  add('two-gnu-long-links', withDb(gnuLong('a', 'K'), gnuLong('b', 'K'), link('l', 'x')), 'E_AMBIGUOUS_HEADER')
  add('dangling-pax', withDb(pax([['path', 'a']])), 'E_PAX_INVALID')
  add('dangling-gnu-long-name', withDb(gnuLong('a')), 'E_PAX_INVALID')
  add('pax-before-end-of-archive-then-data', Buffer.concat([DB, pax([['path', 'a']]), END]), 'E_PAX_INVALID')
  // The 2025 desynchronisation family: PAX size wins, so the bytes the ustar size would have
  // hidden are read as the next header, and its name is checked like any other.
  const hidden = entry({ name: '../smuggled.txt' }, 'x')
  add('pax-size-desync', withDb(pax([['size', '0']]), header({ name: 'cover.txt', size: hidden.length }), hidden), 'E_PATH_TRAVERSAL', { index: 2 })
  add('pax-record-over-budget', withDb(pax([['comment', 'x'.repeat(5000)]]), file('x')), 'E_META_TOO_LARGE', {
    options: { limits: { maxMetaBytes: 4096 } },
  })
  add('pax-declared-over-default-budget', Buffer.concat([DB, header({ name: 'PaxHeader/x', type: 'x', size: 2 << 20 })]), 'E_META_TOO_LARGE')
  add('gnu-long-name-over-budget', withDb(gnuLong('a'.repeat(5000)), file('x')), 'E_META_TOO_LARGE', { options: { limits: { maxMetaBytes: 4096 } } })

  // Numeric fields.
  add('size-not-octal', withDb(file('x', '', { size: '0000000012x\0' })), 'E_HEADER_INVALID')
  add('size-base256-negative', withDb(file('x', '', { size: Buffer.from([0xff, ...Array(11).fill(0xff)]) })), 'E_HEADER_INVALID')
  add('size-base256-overflow', withDb(file('x', '', { size: Buffer.from([0x80, ...Array(11).fill(0xff)]) })), 'E_HEADER_INVALID')
  add('mtime-base256-negative', withDb(file('x', 'x', { raw: { 136: Buffer.from([0xff, ...Array(11).fill(0xfe)]) } })), 'E_HEADER_INVALID')
  add('mode-garbage', withDb(file('x', 'x', { raw: { 100: Buffer.from('09999999') } })), 'E_HEADER_INVALID')
  add('checksum-wrong', withDb(file('x', 'x', { checksum: false })), 'E_HEADER_CHECKSUM')
  add('size-declared-beyond-entry-budget', withDb(file('x', '', { size: Buffer.from([0x80, 0, 0, 0, 0, 0, 0, 0x20, 0, 0, 0, 0]) })), 'E_LIMIT_ENTRY_SIZE', {
    index: 1,
  })

  // Framing: truncation, end of archive, trailing data, not a tar.
  add('truncated-in-header', VALID.subarray(0, BLOCK + 100), 'E_TRUNCATED')
  add('truncated-in-data', Buffer.concat([DB, header({ name: 'x', size: 1000 }), Buffer.alloc(100, 1)]), 'E_TRUNCATED')
  add('truncated-in-padding', VALID.subarray(0, 2 * BLOCK + 5 + 10 + BLOCK), 'E_TRUNCATED')
  add('missing-end-of-archive', Buffer.concat([DB, FILE]), 'E_MISSING_EOA')
  add('one-zero-block', Buffer.concat([DB, FILE, Buffer.alloc(BLOCK)]), 'E_MISSING_EOA')
  add('zero-block-then-header', Buffer.concat([DB, Buffer.alloc(BLOCK), FILE, END]), 'E_HEADER_INVALID')
  add('trailing-data', Buffer.concat([VALID, Buffer.from('junk')]), 'E_TRAILING_DATA')
  add('trailing-header-after-end', Buffer.concat([VALID, file('evil.txt')]), 'E_TRAILING_DATA')
  add('not-a-tar', Buffer.from('<html>this is not an archive</html>'.repeat(20)), 'E_NOT_TAR', { diskCode: 'E_PASSWORD_REQUIRED' })
  add('empty-input', Buffer.alloc(0), 'E_EMPTY_INPUT', { diskCode: 'E_EMPTY_INPUT' })

  // gzip.
  const tgz = gzip(VALID)
  add('gzip-crc', withByte(tgz, -8, tgz[tgz.length - 8] ^ 1), 'E_GZIP_CRC')
  add('gzip-isize', withByte(tgz, -1, tgz[tgz.length - 1] ^ 1), 'E_GZIP_SIZE')
  // The importer reads a gzip magic without deflate or with reserved flags as an envelope's salt.
  const saltLike = { diskCode: 'E_PASSWORD_REQUIRED' }
  add('gzip-method', withByte(tgz, 2, 7), 'E_GZIP_HEADER', saltLike)
  add('gzip-reserved-flags', withByte(tgz, 3, 0xe0), 'E_GZIP_HEADER', saltLike)
  add('gzip-name-over-cap', gzipWithHeader(VALID, { flags: 0x08, name: 'n'.repeat(70000) }), 'E_GZIP_HEADER')
  add('gzip-header-crc', gzipWithHeader(VALID, { flags: 0x02, headerCrc: 0x1234 }), 'E_GZIP_HEADER')
  add('gzip-deflate-garbage', Buffer.concat([tgz.subarray(0, 10), Buffer.alloc(64, 0xff), tgz.subarray(-8)]), 'E_GZIP_DATA')
  add('gzip-truncated-body', tgz.subarray(0, tgz.length - 20), 'E_TRUNCATED')
  add('gzip-truncated-trailer', tgz.subarray(0, tgz.length - 3), 'E_TRUNCATED')
  add('gzip-trailing-garbage', Buffer.concat([tgz, Buffer.from('garbage')]), 'E_GZIP_TRAILING_GARBAGE')
  add('gzip-second-member-crc', Buffer.concat([gzip(VALID.subarray(0, 1024)), withByte(gzip(VALID.subarray(1024)), -8, 0)]), 'E_GZIP_CRC')
  add('gzip-third-member-header', Buffer.concat([gzip(VALID.subarray(0, 1024)), gzip(VALID.subarray(1024)), Buffer.from([0x1f, 0x8b, 9, 0])]), 'E_GZIP_HEADER')
  add('gzip-padding-then-garbage', Buffer.concat([tgz, Buffer.alloc(100), Buffer.from([1])]), 'E_GZIP_TRAILING_GARBAGE')
  add('gzip-not-a-tar', gzip(Buffer.from('not a tar'.repeat(100))), 'E_NOT_TAR')
  add('gzip-empty-member-only', gzip(Buffer.alloc(0)), 'E_EMPTY_INPUT')
  add('gnu-tar-gzip-truncated', tools.gnuGzip.subarray(0, tools.gnuGzip.length - 30), 'E_TRUNCATED')
  add('gzip-tool-crc', withByte(run('gzip', ['-c'], { input: VALID }), -6, 0), 'E_GZIP_CRC')
  add('pigz-isize', withByte(run('pigz', ['-c'], { input: VALID }), -2, 0x7f), 'E_GZIP_SIZE')

  // Budgets.
  const zeros = (n) => Buffer.alloc(n)
  add('bomb-total-bytes', gzip(withDb(file('a', zeros(6 << 20)), file('b', zeros(6 << 20))), 9), 'E_LIMIT_BYTES', {
    options: { limits: { maxTotalBytes: 8 << 20 } },
    index: 2,
  })
  add('bomb-entry-bytes', gzip(withDb(file('a', zeros(6 << 20))), 9), 'E_LIMIT_ENTRY_SIZE', { options: { limits: { maxEntryBytes: 4 << 20 } }, index: 1 })
  const tiny = []
  for (let i = 0; i < 300; i++) tiny.push(header({ name: `f${i}` }))
  add('tar-bomb-of-tiny-entries', gzip(withDb(...tiny)), 'E_LIMIT_ENTRIES', { options: { limits: { maxEntries: 200 } }, index: 200 })
  add('path-over-budget', withDb(pax([['path', `${'d/'.repeat(100)}x`]]), file('x')), 'E_LIMIT_PATH', { options: { limits: { maxPathBytes: 128 } }, index: 1 })
  add('component-over-default-budget', withDb(pax([['path', 'x'.repeat(256)]]), file('x')), 'E_LIMIT_PATH', { index: 1 })
  add('path-over-default-budget', withDb(pax([['path', `${'abcdefgh/'.repeat(460)}x`]]), file('x')), 'E_LIMIT_PATH', { index: 1 })
  add('depth-over-budget', withDb(file(`${'d/'.repeat(20)}x`)), 'E_LIMIT_DEPTH', { options: { limits: { maxDepth: 16 } }, index: 1 })

  // Passwords and envelopes (the importer's rules).
  const disk = (more = {}) => ({ via: 'disk', ...more })
  const envelopeOf = (bytes) => nodeEncrypt(bytes, PASSWORD)
  add('encrypted-archive-wrong-password', envelopeOf(VALID), 'E_BAD_PASSWORD', disk({ options: { password: 'wrong' } }))
  add('encrypted-archive-no-password', envelopeOf(VALID), 'E_PASSWORD_REQUIRED', disk())
  add('enc-entry-no-password', withDb(file('a.png.enc', envelopeOf(Buffer.from('png')))), 'E_PASSWORD_REQUIRED', disk())
  add('enc-entry-wrong-password', withDb(file('a.png.enc', envelopeOf(Buffer.from('png')))), 'E_BAD_PASSWORD', disk({ options: { password: 'wrong' } }))
  add('enc-db-wrong-password', tar(file('db.txt.enc', envelopeOf(Buffer.from('{}\n')))), 'E_BAD_PASSWORD', disk({ options: { password: 'wrong' } }))
  add('envelope-shorter-than-header', Buffer.from('\x00\x01 twenty bytes !!!!'), 'E_ENC_HEADER_TRUNCATED', disk({ options: { password: PASSWORD } }))
  add('enc-entry-shorter-than-header', withDb(file('a.png.enc', Buffer.alloc(10, 7))), 'E_ENC_HEADER_TRUNCATED', disk({ options: { password: PASSWORD } }))
  const sealed = envelopeOf(Buffer.from('an attachment'.repeat(50)))
  add('enc-entry-truncated', withDb(file('a.png.enc', sealed.subarray(0, sealed.length - 10))), 'E_TRUNCATED', disk({ options: { password: PASSWORD } }))
  add('enc-entry-flipped-crc', withDb(file('a.png.enc', withByte(sealed, -8, sealed[sealed.length - 8] ^ 0x40))), 'E_GZIP_CRC', disk({ options: { password: PASSWORD } }))
  const sealedArchive = envelopeOf(VALID)
  add('encrypted-archive-truncated', sealedArchive.subarray(0, sealedArchive.length - 12), 'E_TRUNCATED', disk({ options: { password: PASSWORD } }))
  add('plugin', withDb(file('plugin.min.js')), 'E_IS_PLUGIN', disk())
  add('no-db', tar(FILE), 'E_NO_DB_FILE', disk())

  // What the fuzzers found (fuzz/findings/<target>/; the first byte is the fuzzers' piece size).
  const finding = (target, name) => fs.readFileSync(path.join(__dirname, '../../fuzz/findings', target, name)).subarray(1)
  add('fuzz-gzip-error-after-output', finding('tar_reader', 'gzip-error-after-output-hides-a-policy-error'), 'E_ENTRY_TYPE_UNSUPPORTED')
  add('fuzz-framing-error-after-a-policy-error', finding('tar_reader', 'framing-error-hides-an-earlier-policy-error'), 'E_ENTRY_TYPE_UNSUPPORTED')
  for (const target of ['envelope', 'app_import']) {
    for (const name of fs.readdirSync(path.join(__dirname, '../../fuzz/findings', target))) {
      // A fault past the first gzip header is corruption, not a wrong password, in any cut.
      add(`fuzz-${target}-${name}`, finding(target, name), 'E_GZIP_DATA', disk({ options: { password: 'fuzz' } }))
    }
  }
  return cases
}

module.exports = { buildCorpus, PASSWORD, VALID, gzipWithHeader }
