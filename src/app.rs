//! The backend's archive layout as the importer sees it (FORMAT.md §4): what an input is,
//! judged by content, and where each entry of an app archive goes.

use crate::gzip::MAGIC;

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
}
