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

/// Where an entry goes, as the importer reads it from its header event (`NativeExtract` with
/// `appNames`): `{ kind: "skip" | "plugin" | "db" | "file", name?, encrypted }`, `name` the
/// plaintext name for "db" and "file". Decided on the worker thread with the rest of a step.
pub fn route_json(route: Route) -> serde_json::Value {
    let (kind, name, encrypted) = match route {
        Route::Skip => ("skip", None, false),
        Route::Plugin => ("plugin", None, false),
        Route::Db { encrypted } => ("db", Some("db.txt".to_string()), encrypted),
        Route::File { name, encrypted } => ("file", Some(name), encrypted),
    };
    serde_json::json!({ "kind": kind, "name": name, "encrypted": encrypted })
}
