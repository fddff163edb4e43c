//! The backend's archive layout as the importer sees it (FORMAT.md §4): what an input is,
//! judged by content, and where each entry of an app archive goes.

use std::sync::Arc;

use crate::envelope::{Decryptor, KeyCache, SALT_LEN};
use crate::gzip::MAGIC;
use crate::transform::Pump;

/// Bytes an importer reads ahead before it calls `detect`.
pub const HEAD_LEN: usize = 512;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// gzip magic: a tar.gz (the tar parser sniffs it again).
    Gzip,
    /// `ustar` at offset 257.
    Tar,
    /// A bare ndjson dump.
    Db,
    /// No bytes at all.
    Empty,
    /// Anything else: a `.enc` envelope of an archive or of a dump.
    Encrypted,
}

/// What the first `HEAD_LEN` bytes of an upload (fewer if it is shorter) say it is; more are ignored.
pub fn detect(head: &[u8]) -> Format {
    let head = &head[..head.len().min(HEAD_LEN)];
    if head.is_empty() {
        Format::Empty
    } else if is_gzip(head) {
        Format::Gzip
    } else if is_tar(head) {
        Format::Tar
    } else if is_ndjson(head) {
        Format::Db
    } else {
        Format::Encrypted
    }
}

/// The magic, deflate, and no reserved flag: an envelope's random salt passes for a gzip
/// header once in 2^27 uploads instead of once in 2^16.
fn is_gzip(head: &[u8]) -> bool {
    head.starts_with(&MAGIC) && head.get(2).is_none_or(|&m| m == 8) && head.get(3).is_none_or(|&f| f & 0xe0 == 0)
}

/// A dump starts with `{` and is text; an envelope starts with a random salt, which starts
/// with `{` once in 256 uploads but is almost never 512 bytes of UTF-8 text.
fn is_ndjson(head: &[u8]) -> bool {
    if head[0] != b'{' {
        return false;
    }
    let text = match std::str::from_utf8(head) {
        Ok(text) => text,
        // A character cut by the end of the head is fine.
        Err(e) if e.error_len().is_none() => std::str::from_utf8(&head[..e.valid_up_to()]).unwrap_or(""),
        Err(_) => return false,
    };
    text.chars().all(|c| !c.is_control() || matches!(c, '\n' | '\r' | '\t'))
}

/// What the first decrypted bytes of an envelope say: an archive, or else a dump.
pub fn detect_decrypted(head: &[u8]) -> Format {
    if is_tar(head) {
        Format::Tar
    } else {
        Format::Db
    }
}

fn is_tar(head: &[u8]) -> bool {
    head.len() >= 262 && &head[257..262] == b"ustar"
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    /// Directories, `global.txt` and the archive root: read past.
    Skip,
    /// `plugin.min.js`: the upload is a plugin, not an app.
    Plugin,
    /// The database dump, to the loader.
    Db { encrypted: bool },
    /// An object-store file, under its plaintext name.
    File { name: String, encrypted: bool },
}

/// The name an entry is delivered under: `.enc` stripped.
pub fn plain_name(name: &str) -> &str {
    name.strip_suffix(".enc").unwrap_or(name)
}

/// Where one (policy-checked) archive entry goes.
pub fn route(name: &str, directory: bool) -> Route {
    let name = name.trim_start_matches("./");
    if directory || name.is_empty() || name == "global.txt" {
        return Route::Skip;
    }
    if name == "plugin.min.js" || name == "plugin.min.js.enc" {
        return Route::Plugin;
    }
    let plain = plain_name(name);
    let encrypted = plain.len() < name.len();
    if plain == "db.txt" {
        Route::Db { encrypted }
    } else {
        Route::File { name: plain.to_string(), encrypted }
    }
}

/// An app import's small `.enc` entries, opened as the extractor reads them: one native call per
/// file cost more in thread hops than opening it. An envelope that does not open here (a wrong
/// password, damage, a plaintext over `max`) is handed on as it was read, for the importer to
/// stream or to report as before.
pub struct SmallEnvelopes {
    password: String,
    keys: Arc<KeyCache>,
    max: u64,
    /// The envelope of the entry being read, when it is one to open.
    gathering: Option<Vec<u8>>,
    /// Keys derived here (PBKDF2, several ms each).
    derived: usize,
}

/// Envelopes with a salt of their own (exports made before envelopes shared one key) each need
/// a PBKDF2: past this many here, in the extractor's one thread, they are handed on to the
/// importer, which derives several at once on the thread pool.
const MAX_DERIVED: usize = 4;

/// A small envelope at its entry's end.
#[derive(Debug, PartialEq)]
pub enum Envelope {
    Opened(Vec<u8>),
    AsRead(Vec<u8>),
}

impl SmallEnvelopes {
    /// Envelopes of up to `max` bytes, whose plaintext is at most `max` bytes too.
    pub fn new(password: String, keys: Arc<KeyCache>, max: u64) -> Self {
        SmallEnvelopes { password, keys, max, gathering: None, derived: 0 }
    }

    /// At an entry's header: `true` when its data is to be gathered (`gather`) and opened (`finish`).
    pub fn begins(&mut self, route: &Route, size: u64) -> bool {
        let encrypted = matches!(route, Route::Db { encrypted: true } | Route::File { encrypted: true, .. });
        self.gathering = (encrypted && size <= self.max).then(|| Vec::with_capacity(size as usize));
        self.gathering.is_some()
    }

    /// `true` between a `begins` that accepted an entry and its `finish`.
    pub fn gathering(&self) -> bool {
        self.gathering.is_some()
    }

    pub fn gather(&mut self, data: &[u8]) {
        if let Some(envelope) = self.gathering.as_mut() {
            envelope.extend_from_slice(data);
        }
    }

    /// At an entry's end: what became of it, if `begins` accepted it.
    pub fn finish(&mut self) -> Option<Envelope> {
        let envelope = self.gathering.take()?;
        if !envelope.get(..SALT_LEN).is_some_and(|salt| self.keys.has(salt)) {
            if self.derived == MAX_DERIVED {
                return Some(Envelope::AsRead(envelope));
            }
            self.derived += 1;
        }
        let decryptor = Decryptor::with_cache(&self.password, self.keys.clone());
        Some(match Pump::new(decryptor).run_up_to(&envelope, self.max as usize) {
            Ok(Some(plain)) => Envelope::Opened(plain),
            _ => Envelope::AsRead(envelope),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detection_by_content() {
        let mut tar = vec![0u8; 512];
        tar[257..262].copy_from_slice(b"ustar");
        assert_eq!(detect(&[0x1f, 0x8b, 8]), Format::Gzip);
        assert_eq!(detect(&tar), Format::Tar);
        assert_eq!(detect(b"{\"_id\":1}"), Format::Db);
        assert_eq!(detect(b""), Format::Empty);
        assert_eq!(detect(&[0x80; 48]), Format::Encrypted);
        assert_eq!(detect(b"{\"a\":\"\xc3"), Format::Db, "a character cut at the end of the head");
        assert_eq!(detect(b"{\x00\x91\xfe random salt"), Format::Encrypted);
        assert_eq!(detect(&[0x1f, 0x8b, 0x07, 0]), Format::Encrypted);
        assert_eq!(detect_decrypted(&tar), Format::Tar);
        assert_eq!(detect_decrypted(b"{}"), Format::Db);
    }

    #[test]
    fn routes() {
        assert_eq!(route("./db.txt.enc", false), Route::Db { encrypted: true });
        assert_eq!(route("db.txt", false), Route::Db { encrypted: false });
        assert_eq!(route("global.txt", false), Route::Skip);
        assert_eq!(route("attachments", true), Route::Skip);
        assert_eq!(route("plugin.min.js.enc", false), Route::Plugin);
        assert_eq!(route("a/b.png.enc", false), Route::File { name: "a/b.png".into(), encrypted: true });
        assert_eq!(route("a/b.enc.txt", false), Route::File { name: "a/b.enc.txt".into(), encrypted: false });
    }

    #[test]
    fn small_envelopes_open_where_they_can() {
        let seal = |plain: &[u8]| Pump::new(crate::envelope::Encryptor::new("pw", 6).unwrap()).run_all(plain).unwrap();
        let file = |name: &str| route(name, false);
        let mut envelopes = SmallEnvelopes::new("pw".into(), Arc::new(KeyCache::default()), 1000);
        let sealed = seal(b"hello");
        assert!(envelopes.begins(&file("a.txt.enc"), sealed.len() as u64));
        for piece in sealed.chunks(7) {
            envelopes.gather(piece);
        }
        assert_eq!(envelopes.finish(), Some(Envelope::Opened(b"hello".to_vec())));
        assert_eq!(envelopes.finish(), None, "nothing gathered");
        assert!(!envelopes.begins(&file("a.txt"), 5), "not an envelope");
        assert!(!envelopes.begins(&file("a.txt.enc"), 1001), "over the bound");
        assert!(envelopes.begins(&route("db.txt.enc", false), 100));

        let large = seal(&vec![b'x'; 5000]);
        assert!(envelopes.begins(&file("big.enc"), large.len() as u64));
        envelopes.gather(&large);
        assert_eq!(envelopes.finish(), Some(Envelope::AsRead(large)), "its plaintext is over the bound");

        let mut own_salts = SmallEnvelopes::new("pw".into(), Arc::new(KeyCache::default()), 1000);
        let opened: Vec<bool> = (0..6)
            .map(|_| {
                let sealed = seal(b"own salt");
                own_salts.begins(&file("a.txt.enc"), sealed.len() as u64);
                own_salts.gather(&sealed);
                matches!(own_salts.finish(), Some(Envelope::Opened(_)))
            })
            .collect();
        assert_eq!(opened, [true, true, true, true, false, false], "a key each: the first few derived here");

        let mut wrong = SmallEnvelopes::new("not pw".into(), Arc::new(KeyCache::default()), 1000);
        assert!(wrong.begins(&file("a.txt.enc"), sealed.len() as u64));
        wrong.gather(&sealed);
        assert_eq!(wrong.finish(), Some(Envelope::AsRead(sealed)));
    }
}
