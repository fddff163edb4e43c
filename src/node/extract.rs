//! `NativeExtract`: archive bytes in, entry events out.

use std::sync::Arc;

use napi::bindgen_prelude::{AsyncTask, Buffer};
use napi_derive::napi;

use super::buffer::{OutputBuffer, Recycle};
use super::job::{invalid_argument, step, Deliver, Job, Shared};
use super::pack::JsHeader;
use crate::extract::{Extractor, GzipMode};
use crate::policy::{Limits, Mode};
use crate::tar::Event;
use crate::transform::Pump;

#[napi(object, object_from_js = false)]
pub struct ExtractEvent {
    /// "header", "data", "end-entry" or "end".
    pub kind: String,
    pub header: Option<JsHeader>,
    #[napi(ts_type = "Buffer")]
    pub data: Option<OutputBuffer>,
}

impl Deliver for Vec<Event> {
    type Js = Vec<ExtractEvent>;
    fn deliver(self, recycle: Recycle) -> Vec<ExtractEvent> {
        self.into_iter()
            .map(|event| match event {
                Event::Header(h) => ExtractEvent { kind: "header".into(), header: Some(JsHeader::from_core(h)), data: None },
                Event::Data(d) => ExtractEvent { kind: "data".into(), header: None, data: Some(OutputBuffer::new(d, recycle)) },
                Event::EntryEnd => ExtractEvent { kind: "end-entry".into(), header: None, data: None },
                Event::End => ExtractEvent { kind: "end".into(), header: None, data: None },
            })
            .collect()
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
    /// The app layout: `x` and `x.enc` are duplicates.
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
type Step = AsyncTask<Job<Core, Vec<Event>>>;

#[napi]
pub struct NativeExtract {
    shared: Arc<Shared<Core>>,
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
        policy.app_names = config.app_names.unwrap_or(false);
        policy.fold_case = config.fold_case.unwrap_or(false);
        Ok(NativeExtract { shared: Shared::new(Pump::new(extractor)) })
    }

    #[napi]
    pub fn push(&self, chunk: Buffer) -> Step {
        step(&self.shared, move |core| core.push(&chunk))
    }

    #[napi]
    pub fn end(&self) -> Step {
        step(&self.shared, |core| core.end())
    }

    #[napi]
    pub fn pull(&self) -> Step {
        step(&self.shared, |core| core.step())
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
