'use strict'

// Errors are created here, in JS, so `instanceof Error` holds in every realm (Jest included).
// Native errors arrive as JSON in the message of a napi error.

function backupError(code, message, details = {}) {
  const err = new Error(message, details.cause === undefined ? undefined : { cause: details.cause })
  err.code = code
  for (const key of ['entryName', 'entryIndex', 'offset']) {
    if (details[key] !== undefined && details[key] !== null) err[key] = details[key]
  }
  return err
}

function fromNative(e) {
  if (e && typeof e.message === 'string' && e.message.startsWith('{"code"')) {
    try {
      const d = JSON.parse(e.message)
      return backupError(d.code, d.message, d)
    } catch {}
  }
  if (e && typeof e.code === 'string' && e.code.startsWith('E_')) return e
  return backupError('E_INTERNAL', (e && e.message) || String(e), { cause: e })
}

function abortedError(cause) {
  return backupError('E_ABORTED', 'The operation was aborted', { cause })
}

function isAbort(err) {
  return !!err && (err.name === 'AbortError' || err.code === 'ABORT_ERR' || err.code === 'E_ABORTED')
}

// What a stream is destroyed with: aborts become E_ABORTED, a plain destroy() stays silent.
function destroyReason(err) {
  if (!err) return null
  if (err.code === 'E_ABORTED') return err
  return isAbort(err) ? abortedError(err) : err
}

function invalidArgument(message) {
  return backupError('E_INVALID_ARGUMENT', message)
}

module.exports = { backupError, fromNative, abortedError, destroyReason, invalidArgument }
