//! `NativeExtract`: archive bytes in, entry events out.

use std::io::Write;
use std::sync::Arc;

use napi::bindgen_prelude::{AsyncTask, Buffer};
use napi_derive::napi;

use super::buffer::{OutputBuffer, Recycle};
use super::job::{invalid_argument, step, Deliver, Job, Shared};
use crate::extract::{Extractor, GzipMode};
use crate::policy::{Limits, Mode};
use crate::tar::{type_name, Event, Header};
use crate::transform::Pump;

/// One step's events as JS receives them. Their kinds and headers come as one JSON text: a
/// step of 700 small entries built as objects property by property through napi held the event
/// loop 8-10 ms, where `JSON.parse` of the same takes a fraction of one. Their bytes: pieces
/// under `SHARED_PIECE` gathered into one Buffer (sized to them, so a kept piece keeps only its
/// neighbours of the same step), larger ones each in their own, as the parser made them.
#[napi(object, object_from_js = false)]
pub struct ExtractBatch {
    /// `[{ kind: "header", header, route? }, { kind: "data", buffer, start, end }, { kind: "end-entry" }, { kind: "end" }, ...]`;
    /// a header leaves out `uid`, `gid`, `uname`, `gname`, `devmajor` and `devminor` when zero or empty.
    pub events: String,
    #[napi(ts_type = "Buffer[]")]
    pub buffers: Vec<OutputBuffer>,
}

/// Data pieces under this many bytes share their step's Buffer.
const SHARED_PIECE: usize = 64 << 10;

/// `ExtractBatch` as the worker thread prepares it.
pub struct Batch {
    events: String,
    buffers: Vec<Vec<u8>>,
}

impl Batch {
    /// `routes`: each header event also says where the entry goes in an app import (`route_json`).
    pub fn new(events: Vec<Event>, routes: bool) -> Self {
        let shared_bytes: usize = events
            .iter()
            .filter_map(|e| match e {
                Event::Data(d) if d.len() < SHARED_PIECE => Some(d.len()),
                _ => None,
            })
            .sum();
        let mut shared = crate::pool::take(shared_bytes);
        let mut buffers = Vec::new();
        let mut json = Vec::with_capacity(events.len() * 64);
        json.push(b'[');
        for (i, event) in events.into_iter().enumerate() {
            if i > 0 {
                json.push(b',');
            }
            match event {
                Event::Header(h) => {
                    if routes {
                        json.extend_from_slice(br#"{"kind":"header","route":"#);
                        let route = super::app::route_json(&h.name, h.typeflag == b'5');
                        serde_json::to_writer(&mut json, &route).expect("writing JSON to a Vec cannot fail");
                        json.extend_from_slice(br#","header":"#);
                    } else {
                        json.extend_from_slice(br#"{"kind":"header","header":"#);
                    }
                    write_header(&mut json, h);
                    json.push(b'}');
                }
                Event::Data(d) => {
                    let (buffer, start, end) = if d.len() < SHARED_PIECE {
                        let start = shared.len();
                        shared.extend_from_slice(&d);
                        (0, start, shared.len())
                    } else {
                        let len = d.len();
                        buffers.push(d);
                        (buffers.len(), 0, len) // the shared Buffer goes first, below
                    };
                    let _ = write!(json, r#"{{"kind":"data","buffer":{buffer},"start":{start},"end":{end}}}"#);
                }
                Event::EntryEnd => json.extend_from_slice(br#"{"kind":"end-entry"}"#),
                Event::End => json.extend_from_slice(br#"{"kind":"end"}"#),
            }
        }
        json.push(b']');
        buffers.insert(0, shared);
        let events = String::from_utf8(json).expect("JSON of UTF-8 names is UTF-8");
        Batch { events, buffers }
    }
}

fn write_header(json: &mut Vec<u8>, h: Header) {
    let mut fields = serde_json::Map::new();
    fields.insert("name".into(), h.name.into());
    if let Some(kind) = type_name(h.typeflag) {
        fields.insert("type".into(), kind.into());
    }
    fields.insert("size".into(), h.size.into());
    fields.insert("mode".into(), h.mode.into());
    fields.insert("mtime".into(), h.mtime.into());
    let numbers = [("uid", h.uid), ("gid", h.gid), ("devmajor", h.devmajor.into()), ("devminor", h.devminor.into())];
    for (key, value) in numbers.into_iter().filter(|(_, v)| *v != 0) {
        fields.insert(key.into(), value.into());
    }
    for (key, value) in [("uname", h.uname), ("gname", h.gname)].into_iter().filter(|(_, v)| !v.is_empty()) {
        fields.insert(key.into(), value.into());
    }
    if let Some(linkname) = h.linkname {
        fields.insert("linkname".into(), linkname.into());
    }
    if !h.pax.is_empty() {
        let pax = h.pax.into_iter().map(|(k, v)| (k, serde_json::Value::from(v))).collect();
        fields.insert("pax".into(), serde_json::Value::Object(pax));
    }
    serde_json::to_writer(json, &fields).expect("writing JSON to a Vec cannot fail");
}

impl Deliver for Batch {
    type Js = ExtractBatch;
    fn deliver(self, recycle: Recycle) -> ExtractBatch {
        let buffers = self.buffers.into_iter().map(|b| OutputBuffer::new(b, recycle)).collect();
        ExtractBatch { events: self.events, buffers }
    }
}

#[napi(object)]
pub struct JsLimits {
    pub max_meta_bytes: Option<f64>,
    pub max_path_bytes: Option<f64>,
    pub max_component_bytes: Option<f64>,
    pub max_depth: Option<f64>,
    pub max_entries: Option<f64>,
    pub max_entry_bytes: Option<f64>,
    pub max_total_bytes: Option<f64>,
}

#[napi(object)]
pub struct ExtractConfig {
    /// "auto", "always" or "never".
    pub gzip: String,
    /// "permissive" or "strict".
    pub policy: String,
    pub allow_links: Option<bool>,
    /// The app layout: `x` and `x.enc` are duplicates, and header events carry each entry's route.
    pub app_names: Option<bool>,
    /// Names equal after NFC and case folding collide (case-insensitive targets).
    pub fold_case: Option<bool>,
    pub limits: Option<JsLimits>,
}

fn limit(value: Option<f64>, default: u64, what: &str) -> napi::Result<u64> {
    match value {
        None => Ok(default),
        Some(v) if v == f64::INFINITY => Ok(u64::MAX),
        Some(v) if v >= 0.0 && v.fract() == 0.0 => Ok(v as u64),
        Some(v) => Err(invalid_argument(format!("limits.{what} must be a non-negative integer or Infinity, got {v}"))),
    }
}

fn limits(js: Option<JsLimits>) -> napi::Result<Limits> {
    let d = Limits::default();
    let Some(js) = js else { return Ok(d) };
    Ok(Limits {
        max_meta: limit(js.max_meta_bytes, d.max_meta, "maxMetaBytes")?,
        max_path: limit(js.max_path_bytes, d.max_path, "maxPathBytes")?,
        max_component: limit(js.max_component_bytes, d.max_component, "maxComponentBytes")?,
        max_depth: limit(js.max_depth, d.max_depth, "maxDepth")?,
        max_entries: limit(js.max_entries, d.max_entries, "maxEntries")?,
        max_entry_size: limit(js.max_entry_bytes, d.max_entry_size, "maxEntryBytes")?,
        max_total: limit(js.max_total_bytes, d.max_total, "maxTotalBytes")?,
    })
}

type Core = Pump<Extractor>;
type Step = AsyncTask<Job<Core, Batch>>;

#[napi]
pub struct NativeExtract {
    shared: Arc<Shared<Core>>,
    /// The app layout's: header events carry their entry's route.
    routes: bool,
}

#[napi]
impl NativeExtract {
    #[napi(constructor)]
    pub fn new(config: ExtractConfig) -> napi::Result<Self> {
        let gzip = match config.gzip.as_str() {
            "auto" => GzipMode::Auto,
            "always" => GzipMode::Always,
            "never" => GzipMode::Never,
            other => return Err(invalid_argument(format!("gzip must be 'auto', true or false, got {other:?}"))),
        };
        let mode = match config.policy.as_str() {
            "permissive" => Mode::Permissive,
            "strict" => Mode::Strict,
            other => return Err(invalid_argument(format!("policy must be 'permissive' or 'strict', got {other:?}"))),
        };
        let mut extractor = Extractor::new(gzip, mode, limits(config.limits)?);
        let policy = extractor.policy();
        policy.allow_links = config.allow_links.unwrap_or(false);
        let routes = config.app_names.unwrap_or(false);
        policy.app_names = routes;
        policy.fold_case = config.fold_case.unwrap_or(false);
        Ok(NativeExtract { shared: Shared::new(Pump::new(extractor)), routes })
    }

    #[napi]
    pub fn push(&self, chunk: Buffer) -> Step {
        let routes = self.routes;
        step(&self.shared, move |core| core.push(&chunk).map(|events| Batch::new(events, routes)))
    }

    #[napi]
    pub fn end(&self) -> Step {
        let routes = self.routes;
        step(&self.shared, move |core| core.end().map(|events| Batch::new(events, routes)))
    }

    #[napi]
    pub fn pull(&self) -> Step {
        let routes = self.routes;
        step(&self.shared, move |core| core.step().map(|events| Batch::new(events, routes)))
    }

    #[napi]
    pub fn has_more(&self) -> bool {
        self.shared.has_more()
    }

    #[napi]
    pub fn abort(&self) {
        self.shared.abort()
    }
}
