// The backend's export controller and import path with @app/backup-native: the archive streams
// from the object store and the database into the HTTP response, and from the upload into the
// store and the database loader. Nothing is buffered whole; nothing goes to a temp folder.
import http from 'node:http'
import { pipeline } from 'node:stream/promises'
import { createAppExport, importAppExport, type BackupError } from '@app/backup-native'
import { appFiles, putFile, type Store } from './store'
import { dump, load, type Database } from './database'

export interface Backend {
  store: Store
  // The database of an app, created on first use.
  database(appId: string): Database
}

// GET /apps/:id/export[?password=…]: the archive as the response body.
export async function exportApp(backend: Backend, appId: string, password: string | undefined, res: http.ServerResponse): Promise<void> {
  const controller = new AbortController()
  res.on('close', () => controller.abort()) // the browser went away: stop reading the store
  res.writeHead(200, { 'content-type': 'application/gzip', 'content-disposition': `attachment; filename="${appId}.tar.gz"` })
  const archive = createAppExport({
    db: () => dump(backend.database(appId)),
    files: appFiles(backend.store, appId),
    password,
    signal: controller.signal,
  })
  await pipeline(archive, res)
}

// POST /apps/:id/import[?password=…]: the upload imported under a new app id.
export async function importApp(backend: Backend, newAppId: string, password: string | undefined, req: http.IncomingMessage) {
  let docs = 0
  const summary = await importAppExport(req, {
    password,
    concurrency: 4, // uploads in flight at once
    onDb: async (dumpStream) => {
      docs = await load(backend.database(newAppId), dumpStream)
    },
    onFile: (name, data) => putFile(backend.store, `${newAppId}/${name}`, data),
  })
  return { ...summary, docs }
}

export function createServer(backend: Backend): http.Server {
  return http.createServer(async (req, res) => {
    const url = new URL(req.url ?? '/', 'http://localhost')
    const match = url.pathname.match(/^\/apps\/([\w-]+)\/(export|import)$/)
    const password = url.searchParams.get('password') ?? undefined
    try {
      if (match && match[2] === 'export' && req.method === 'GET') return await exportApp(backend, match[1], password, res)
      if (match && match[2] === 'import' && req.method === 'POST') {
        const result = await importApp(backend, match[1], password, req)
        res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(result))
        return
      }
      res.writeHead(404).end()
    } catch (err) {
      const e = err as BackupError
      req.resume() // the import stopped reading the upload; let the rest of it go so the client gets this reply
      if (!res.headersSent) res.writeHead(e.code === 'E_BAD_PASSWORD' ? 403 : 400, { 'content-type': 'application/json' })
      res.end(JSON.stringify({ code: e.code, message: e.message }))
    }
  })
}
