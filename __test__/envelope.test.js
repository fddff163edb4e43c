'use strict'

const crypto = require('node:crypto')
const zlib = require('node:zlib')
const { Writable } = require('node:stream')
const { pipeline } = require('node:stream/promises')
const { createEncryptStream, createDecryptStream, encrypt, decrypt } = require('..')
const { chunkings, through, rejection, fromChunks, run, nodeEncrypt, nodeDecrypt } = require('./helpers')


const SIZES = [0, 1, 15, 16, 17, 31, 32, 33, 65535, 65536, 65537, 300001]
const PASSWORDS = ['correct horse', 'pässwörd ✓ 密码']

function bytes(size) {
  const b = crypto.randomBytes(size)
  for (let i = 0; i < size; i += 3) b[i] = 65 // partly compressible
  return b
}

describe('the .enc envelope', () => {
  test.each(SIZES)('Node crypto+zlib -> our decrypt, %i bytes', async (size) => {
    const plain = bytes(size)
    for (const password of PASSWORDS) {
      const envelope = nodeEncrypt(plain, password)
      expect((await decrypt(envelope, password)).equals(plain)).toBe(true)
      for (const [how, chunks] of chunkings(envelope, 2048)) {
        const out = await through(createDecryptStream(password), chunks)
        expect([how, out.equals(plain)]).toEqual([how, true])
      }
    }
  })

  test.each(SIZES)('our encrypt -> Node crypto+zlib, %i bytes', async (size) => {
    const plain = bytes(size)
    for (const password of PASSWORDS) {
      const whole = await encrypt(plain, password)
      expect(nodeDecrypt(whole, password).equals(plain)).toBe(true)
      const streamed = await through(createEncryptStream(password), chunkings(plain, 0)[1][1])
      expect(nodeDecrypt(streamed, password).equals(plain)).toBe(true)
      expect(streamed.subarray(0, 32).equals(whole.subarray(0, 32))).toBe(false) // fresh salt and IV
    }
  })

  test('openssl decrypts our ciphertext with the PBKDF2 key', async () => {
    const plain = bytes(5000)
    const envelope = await encrypt(plain, 'pw')
    const key = crypto.pbkdf2Sync('pw', envelope.subarray(0, 16), 10000, 32, 'sha512')
    const gz = run('openssl', ['enc', '-d', '-aes-256-ctr', '-K', key.toString('hex'), '-iv', envelope.subarray(16, 32).toString('hex')], {
      input: envelope.subarray(32),
    })
    expect(zlib.gunzipSync(gz).equals(plain)).toBe(true)
  })

  test('a wrong password fails with E_BAD_PASSWORD before any output', async () => {
    const envelope = nodeEncrypt(bytes(200000), 'right')
    for (const [how, chunks] of chunkings(envelope, 0)) {
      let emitted = 0
      const err = await rejection(
        pipeline(
          fromChunks(chunks),
          createDecryptStream('wrong'),
          new Writable({
            write(c, e, cb) {
              emitted += c.length
              cb()
            },
          }),
        ),
      )
      expect(err).toBeInstanceOf(Error)
      expect([how, err.code, err.message, emitted]).toEqual([how, 'E_BAD_PASSWORD', 'File cannot be imported', 0])
    }
    const err = await rejection(decrypt(envelope, 'wrong'))
    expect(err.code).toBe('E_BAD_PASSWORD')
    expect(err.message).not.toContain('right')
  })

  test('every truncation of a small envelope is an error with a stable code', async () => {
    const envelope = nodeEncrypt(Buffer.from('a small database dump\n'.repeat(3)), 'pw')
    for (let cut = 0; cut < envelope.length; cut++) {
      const piece = envelope.subarray(0, cut)
      const expected = cut < 32 ? 'E_ENC_HEADER_TRUNCATED' : 'E_TRUNCATED'
      const streamed = await rejection(through(createDecryptStream('pw'), [piece]))
      const whole = await rejection(decrypt(piece, 'pw'))
      expect([cut, streamed.code, whole.code]).toEqual([cut, expected, expected])
    }
  })

  test('a password must be a string', () => {
    expect(() => createEncryptStream(undefined)).toThrow(expect.objectContaining({ code: 'E_INVALID_ARGUMENT' }))
  })
})
