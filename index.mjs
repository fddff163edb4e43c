// The ES module entry: the same objects as the CommonJS one (index.js), as named exports.
import cjs from './index.js'

export const {
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
} = cjs
export default cjs
