// Each line below must fail to type-check: `@ts-expect-error` turns a line that does
// type-check into an error of its own, so `tsc` fails if the declarations are too loose.
import { createGzip, encrypt, pack, extract, createAppExport, importAppExport } from '@app/backup-native'

// @ts-expect-error level is a number
createGzip({ level: 'best' })
// @ts-expect-error the password is required
void encrypt(Buffer.from('x'))
// @ts-expect-error an entry needs a name
pack().entry({ size: 1 })
// @ts-expect-error policy is 'permissive' or 'strict'
extract({ policy: 'lenient' })
// @ts-expect-error db is required
createAppExport({ files: [] })
// @ts-expect-error encryption is 'per-file' or 'archive'
createAppExport({ db: () => process.stdin, encryption: 'both' })
// @ts-expect-error onDb and onFile are required
void importAppExport(Buffer.alloc(0), { password: 'pw' })
// @ts-expect-error limits are numbers
extract({ limits: { maxEntries: '10' } })
