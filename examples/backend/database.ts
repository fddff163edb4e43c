// The database side: dump and load as ndjson (FORMAT.md §3), the format the backend's
// replication stream writes: a header line, then `{"docs":[...]}` batches and `{"seq":n}` checkpoints.
import { Readable } from 'node:stream'
import { createInterface } from 'node:readline'

// The few PouchDB methods used here.
export interface Database {
  info(): Promise<{ db_name: string; doc_count: number; update_seq: number | string }>
  allDocs(options: { include_docs: true; limit: number; startkey?: string; skip?: number }): Promise<{
    rows: Array<{ id: string; doc?: Record<string, unknown> }>
  }>
  bulkDocs(docs: Array<Record<string, unknown>>, options: { new_edits: false }): Promise<unknown>
}

const BATCH = 250

export function dump(db: Database): Readable {
  async function* lines(): AsyncGenerator<string> {
    const info = await db.info()
    yield JSON.stringify({ version: '1.2.6', db_type: 'http', start_time: new Date().toISOString(), db_info: info }) + '\n'
    let startkey: string | undefined
    let seq = 0
    for (;;) {
      const page = await db.allDocs({ include_docs: true, limit: BATCH, ...(startkey === undefined ? {} : { startkey, skip: 1 }) })
      if (page.rows.length === 0) break
      yield JSON.stringify({ docs: page.rows.map((row) => row.doc) }) + '\n'
      seq += page.rows.length
      yield JSON.stringify({ seq }) + '\n'
      startkey = page.rows[page.rows.length - 1].id
    }
  }
  return Readable.from(lines())
}

// Loads a dump as it streams in, keeping revisions (`new_edits: false`).
export async function load(db: Database, dumpStream: Readable): Promise<number> {
  let docs = 0
  let first = true
  for await (const line of createInterface({ input: dumpStream, crlfDelay: Infinity })) {
    if (!line.trim()) continue
    const record = JSON.parse(line) as { docs?: Array<Record<string, unknown>> }
    if (first) {
      first = false
      continue // the header
    }
    if (record.docs) {
      await db.bulkDocs(record.docs, { new_edits: false })
      docs += record.docs.length
    }
  }
  return docs
}
