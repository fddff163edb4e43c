//! `NativeExtract`: archive bytes in, entry events out.

use std::io::Write;
use std::sync::Arc;

use napi::bindgen_prelude::Buffer;
use napi_derive::napi;

use super::buffer::{OutputBuffer, Recycle};
use super::job::{invalid_argument, step, step_with, Deliver, Shared};
use super::transform::NativeKeyCache;
use crate::app::{self, Envelope, SmallEnvelopes};
use crate::error::Result;
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
    /// Each event an array led by its kind, as `lib/extract.js` reads them: `[0, header, route?]`,
    /// `[1, buffer, start, end]` (data), `[2]` or `[2, 1]` (an entry's end; 1: its envelope came
    /// opened), `[3]` (the archive's end). Arrays parse in half the time of objects with named
    /// fields. A header leaves out `uid`, `gid`, `uname`, `gname`, `devmajor` and `devminor` when
    /// zero or empty.
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
    /// `app`: an app import's, whose header events also say where each entry goes
    /// (`route_json`); `envelopes`, if given, opens its small `.enc` entries on the way.
    fn new(events: Vec<Event>, app: bool, mut envelopes: Option<&mut SmallEnvelopes>) -> Self {
        // Room for the small pieces as read; an envelope opened on the way may need more.
        let shared_bytes: usize = events
            .iter()
            .filter_map(|e| match e {
                Event::Data(d) if d.len() < SHARED_PIECE => Some(d.len()),
                _ => None,
            })
            .sum();
        let mut batch = Batch { events: String::new(), buffers: vec![crate::pool::take(shared_bytes)] };
        let mut json = Vec::with_capacity(events.len() * 64);
        json.push(b'[');
        for event in events {
            match event {
                Event::Header(h) => {
                    separate(&mut json);
                    let route = app.then(|| app::route(&h.name, h.typeflag == b'5'));
                    if let (Some(route), Some(envelopes)) = (&route, envelopes.as_mut()) {
                        envelopes.begins(route, h.size);
                    }
                    json.extend_from_slice(b"[0,");
                    write_header(&mut json, h);
                    if let Some(route) = route {
                        json.push(b',');
                        serde_json::to_writer(&mut json, &super::app::route_json(route)).expect("JSON into a Vec");
                    }
                    json.push(b']');
                }
                Event::Data(d) => match envelopes.as_mut().filter(|e| e.gathering()) {
                    Some(envelopes) => envelopes.gather(&d),
                    None => batch.data(&mut json, d),
                },
                Event::EntryEnd => {
                    let opened = match envelopes.as_mut().and_then(|e| e.finish()) {
                        Some(Envelope::Opened(plain)) => {
                            batch.data(&mut json, plain);
                            true
                        }
                        Some(Envelope::AsRead(envelope)) => {
                            batch.data(&mut json, envelope);
                            false
                        }
                        None => false,
                    };
                    separate(&mut json);
                    json.extend_from_slice(if opened { b"[2,1]" } else { b"[2]" });
                }
                Event::End => {
                    separate(&mut json);
                    json.extend_from_slice(b"[3]");
                }
            }
        }
        json.push(b']');
        batch.events = String::from_utf8(json).expect("JSON of UTF-8 names is UTF-8");
        batch
    }

    /// A data event for `piece`: a range of the shared Buffer (the first) or a Buffer of its own.
    fn data(&mut self, json: &mut Vec<u8>, piece: Vec<u8>) {
        let (buffer, start, end) = if piece.len() < SHARED_PIECE {
            let shared = &mut self.buffers[0];
            let start = shared.len();
            shared.extend_from_slice(&piece);
            (0, start, shared.len())
        } else {
            let len = piece.len();
            self.buffers.push(piece);
            (self.buffers.len() - 1, 0, len)
        };
        separate(json);
        let _ = write!(json, "[1,{buffer},{start},{end}]");
    }
}

/// The comma before an element of the events array, unless it is the first.
fn separate(json: &mut Vec<u8>) {
    if json.len() > 1 {
        json.push(b',');
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
    /// An app import's password, to open its small envelopes with (see `NativeExtract::new`).
    pub password: Option<String>,
    pub open_up_to: Option<f64>,
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

/// The extractor and what an app import adds to its steps.
pub struct Core {
    pump: Pump<Extractor>,
    /// The app layout's: header events carry their entry's route.
    app: bool,
    envelopes: Option<SmallEnvelopes>,
}

impl Core {
    fn batch(&mut self, events: Result<Vec<Event>>) -> Result<Batch> {
        Ok(Batch::new(events?, self.app, self.envelopes.as_mut()))
    }
}

impl super::job::Core for Core {
    fn has_more(&self) -> bool {
        self.pump.has_more()
    }
}

type Step<I = ()> = super::job::Step<Core, I, Batch>;

#[napi]
pub struct NativeExtract {
    shared: Arc<Shared<Core>>,
}

#[napi]
impl NativeExtract {
    /// `keys`, with `config.password`: an app import's small `.enc` entries (up to
    /// `config.openUpTo` bytes, their plaintext too) come opened, their end event marked `opened`.
    #[napi(constructor)]
    pub fn new(config: ExtractConfig, keys: Option<&NativeKeyCache>) -> napi::Result<Self> {
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
        let app = config.app_names.unwrap_or(false);
        policy.app_names = app;
        policy.fold_case = config.fold_case.unwrap_or(false);
        let envelopes = match (app, config.password, keys) {
            (true, Some(password), Some(keys)) => {
                let max = limit(config.open_up_to, 0, "openUpTo")?;
                Some(SmallEnvelopes::new(password, keys.inner.clone(), max))
            }
            _ => None,
        };
        Ok(NativeExtract { shared: Shared::new(Core { pump: Pump::new(extractor), app, envelopes }) })
    }

    #[napi(ts_return_type = "Promise<ExtractBatch>")]
    pub fn push(&self, chunk: Buffer) -> Step<Buffer> {
        step_with(&self.shared, chunk, |core, chunk| {
            let events = core.pump.push(chunk);
            core.batch(events)
        })
    }

    #[napi(ts_return_type = "Promise<ExtractBatch>")]
    pub fn end(&self) -> Step {
        step(&self.shared, |core| {
            let events = core.pump.end();
            core.batch(events)
        })
    }

    #[napi(ts_return_type = "Promise<ExtractBatch>")]
    pub fn pull(&self) -> Step {
        step(&self.shared, |core| {
            let events = core.pump.step();
            core.batch(events)
        })
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
