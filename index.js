'use strict'

const native = require('./binding.js')
const { NativeTransform } = require('./lib/transform')
const { Pack } = require('./lib/pack')
const { Extract } = require('./lib/extract')
const { fromNative, invalidArgument } = require('./lib/errors')
const { toBuffer } = require('./lib/coalesce')
const { createAppExport } = require('./lib/app-export')
const { importAppExport } = require('./lib/app-import')
const { exportDirectory, extractToDirectory } = require('./lib/directory')

function level(options) {
  const value = options && options.level !== undefined ? options.level : 6
  if (!Number.isInteger(value) || value < 0 || value > 9) throw invalidArgument('level must be an integer 0-9')
  return value
}

function password(value) {
  if (typeof value !== 'string') throw invalidArgument('password must be a string')
  return value
}

function wrapNative(make) {
  try {
    return make()
  } catch (err) {
    throw fromNative(err)
  }
}

/** bytes -> one standard gzip member. */
function createGzip(options = {}) {
  return new NativeTransform(wrapNative(() => native.NativeTransform.gzip(level(options))), options)
}

/** gzip (every member) -> bytes, with CRC32 and ISIZE checked. */
function createGunzip(options = {}) {
  return new NativeTransform(native.NativeTransform.gunzip(), options)
}

/** bytes -> the .enc envelope: salt || iv || AES-256-CTR(gzip(bytes)). */
function createEncryptStream(pw, options = {}) {
  return new NativeTransform(wrapNative(() => native.NativeTransform.encrypt(password(pw), level(options))), options)
}

/** the .enc envelope -> bytes; a wrong password fails before any output. */
function createDecryptStream(pw, options = {}) {
  return new NativeTransform(native.NativeTransform.decrypt(password(pw)), options)
}

async function encrypt(data, pw, options = {}) {
  const input = toBuffer(data, 'utf8')
  try {
    return await native.encryptBuffer(input, password(pw), level(options))
  } catch (err) {
    throw fromNative(err)
  }
}

async function decrypt(data, pw) {
  const input = toBuffer(data, 'utf8')
  try {
    return await native.decryptBuffer(input, password(pw))
  } catch (err) {
    throw fromNative(err)
  }
}

function pack(options = {}) {
  return new Pack(options)
}

function extract(options = {}) {
  if (options.policy !== undefined && options.policy !== 'permissive' && options.policy !== 'strict') {
    throw invalidArgument("policy must be 'permissive' or 'strict'")
  }
  return new Extract(options)
}

module.exports = {
  createGzip,
  createGunzip,
  createEncryptStream,
  createDecryptStream,
  encrypt,
  decrypt,
  pack,
  extract,
  createAppExport,
  importAppExport,
  exportDirectory,
  extractToDirectory,
  Pack,
  Extract,
}
