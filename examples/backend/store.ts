// The object store side: an app's files live under `<appId>/` in one S3 bucket.
import { Readable } from 'node:stream'
import { S3Client, ListObjectsV2Command, GetObjectCommand } from '@aws-sdk/client-s3'
import { Upload } from '@aws-sdk/lib-storage'
import type { AppFile } from '@app/backup-native'

export interface Store {
  s3: S3Client
  bucket: string
}

// Every object of an app, as export entries: the listing gives the size, so each streams straight through.
export async function* appFiles(store: Store, appId: string): AsyncGenerator<AppFile> {
  const prefix = `${appId}/`
  let token: string | undefined
  do {
    const page = await store.s3.send(new ListObjectsV2Command({ Bucket: store.bucket, Prefix: prefix, ContinuationToken: token }))
    for (const object of page.Contents ?? []) {
      const key = object.Key!
      yield {
        name: key.slice(prefix.length),
        size: object.Size,
        mtime: object.LastModified,
        // Opened only shortly before the entry is written.
        stream: async () => (await store.s3.send(new GetObjectCommand({ Bucket: store.bucket, Key: key }))).Body as Readable,
      }
    }
    token = page.IsTruncated ? page.NextContinuationToken : undefined
  } while (token)
}

// Streams one object into the store; multipart when large, so the size need not be known.
export async function putFile(store: Store, key: string, data: Readable): Promise<void> {
  await new Upload({ client: store.s3, params: { Bucket: store.bucket, Key: key, Body: data }, queueSize: 2, partSize: 8 << 20 }).done()
}
