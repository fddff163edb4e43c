'use strict'

// Hand-built tar bytes, field by field, so a test can write what no well-behaved tool would.

const BLOCK = 512

function octal(n, width) {
  return n.toString(8).padStart(width - 1, '0') + '\0'
}

// One header block. `raw` writes bytes at an offset after the fields (to break them);
// `checksum: false` leaves a wrong checksum.
function header({ name = '', mode = 0o644, size = 0, mtime = 1700000000, type = '0', linkname = '', prefix = '', magic = 'ustar\x0000', raw = {}, checksum = true } = {}) {
  const b = Buffer.alloc(BLOCK)
  const put = (offset, width, value) => {
    const bytes = Buffer.isBuffer(value) ? value : Buffer.from(value, 'utf8')
    if (bytes.length > width) throw new Error(`field at ${offset} is ${bytes.length} bytes, more than ${width}`)
    bytes.copy(b, offset)
  }
  put(0, 100, name)
  put(100, 8, octal(mode, 8))
  put(108, 8, octal(0, 8))
  put(116, 8, octal(0, 8))
  put(124, 12, typeof size === 'number' ? octal(size, 12) : size)
  put(136, 12, octal(mtime, 12))
  b[156] = type.charCodeAt(0)
  put(157, 100, linkname)
  put(257, 8, magic)
  put(345, 155, prefix)
  for (const [offset, bytes] of Object.entries(raw)) put(Number(offset), bytes.length, bytes)
  b.fill(' ', 148, 156)
  let sum = 0
  for (const byte of b) sum += byte
  b.write(octal(checksum ? sum : sum + 1, 7) + ' ', 148, 'latin1')
  return b
}

function padded(data) {
  const bytes = Buffer.isBuffer(data) ? data : Buffer.from(data)
  return Buffer.concat([bytes, Buffer.alloc((BLOCK - (bytes.length % BLOCK)) % BLOCK)])
}

// A header and its data; `size` defaults to the data's length.
function entry(fields, data = '') {
  const bytes = Buffer.isBuffer(data) ? data : Buffer.from(data)
  return Buffer.concat([header({ size: bytes.length, ...fields }), padded(bytes)])
}

// PAX records as "<len> key=value\n", lengths computed unless a record is given as a string.
function paxRecords(records) {
  return Buffer.concat(
    records.map((record) => {
      if (typeof record === 'string') return Buffer.from(record, 'utf8')
      const [key, value] = record
      const body = Buffer.from(` ${key}=${value}\n`, 'utf8')
      let len = body.length + 1
      while (String(len).length + body.length > len) len++
      return Buffer.concat([Buffer.from(String(len)), body])
    }),
  )
}

function pax(records, type = 'x') {
  return entry({ name: 'PaxHeader/x', type }, paxRecords(records))
}

// A GNU long name ('L') or long link ('K') carrier.
function gnuLong(value, type = 'L') {
  return entry({ name: '././@LongLink', type }, Buffer.concat([Buffer.from(value, 'utf8'), Buffer.alloc(1)]))
}

const END = Buffer.alloc(2 * BLOCK)

// Parts followed by the end-of-archive blocks.
function tar(...parts) {
  return Buffer.concat([...parts, END])
}

module.exports = { BLOCK, octal, header, entry, pax, paxRecords, gnuLong, tar, END }
