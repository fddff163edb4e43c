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
    /// A bare ndjson dump (or nothing at all).
    Db,
    /// Anything else: a `.enc` envelope of an archive or of a dump.
    Encrypted,
}

/// What the first `HEAD_LEN` bytes of an upload (fewer if it is shorter) say it is.
pub fn detect(head: &[u8]) -> Format {
    if head.starts_with(&MAGIC) {
        Format::Gzip
    } else if is_tar(head) {
        Format::Tar
    } else if head.is_empty() || head[0] == b'{' {
        Format::Db
    } else {
        Format::Encrypted
    }
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

/// Where one (policy-checked) archive entry goes.
pub fn route(name: &str, directory: bool) -> Route {
    let name = name.trim_start_matches("./");
    if directory || name.is_empty() || name == "global.txt" {
        return Route::Skip;
    }
    if name == "plugin.min.js" || name == "plugin.min.js.enc" {
        return Route::Plugin;
    }
    let (plain, encrypted) = match name.strip_suffix(".enc") {
        Some(plain) => (plain, true),
        None => (name, false),
    };
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
        assert_eq!(detect(b""), Format::Db);
        assert_eq!(detect(&[0x80; 48]), Format::Encrypted);
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
