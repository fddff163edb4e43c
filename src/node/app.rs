//! The app layout's decisions (`crate::app`), for the importer in lib/app-import.js. Cheap
//! and sync: they look at a name or at most 512 bytes.

use napi::bindgen_prelude::Buffer;
use napi_derive::napi;

use crate::app::{self, Format, Route};

fn format_name(format: Format) -> &'static str {
    match format {
        Format::Gzip => "gzip",
        Format::Tar => "tar",
        Format::Db => "db",
        Format::Empty => "empty",
        Format::Encrypted => "encrypted",
    }
}

/// "gzip", "tar", "db", "encrypted" or "empty", from the first 512 bytes of an upload.
#[napi(js_name = "detectFormat")]
pub fn detect_format(head: Buffer) -> &'static str {
    format_name(app::detect(&head))
}

/// "tar" or "db", from the first 512 decrypted bytes of an envelope.
#[napi(js_name = "detectDecryptedFormat")]
pub fn detect_decrypted_format(head: Buffer) -> &'static str {
    format_name(app::detect_decrypted(&head))
}

#[napi(object)]
pub struct EntryRoute {
    /// "skip", "plugin", "db" or "file".
    pub kind: String,
    /// The plaintext name, for "db" and "file".
    pub name: Option<String>,
    pub encrypted: bool,
}

#[napi(js_name = "routeEntry")]
pub fn route_entry(name: String, directory: bool) -> EntryRoute {
    match app::route(&name, directory) {
        Route::Skip => EntryRoute { kind: "skip".into(), name: None, encrypted: false },
        Route::Plugin => EntryRoute { kind: "plugin".into(), name: None, encrypted: false },
        Route::Db { encrypted } => EntryRoute { kind: "db".into(), name: Some("db.txt".into()), encrypted },
        Route::File { name, encrypted } => EntryRoute { kind: "file".into(), name: Some(name), encrypted },
    }
}
