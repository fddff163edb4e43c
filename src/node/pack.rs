//! `NativePack` and the header object shared with JS.

use std::collections::HashMap;
use std::sync::Arc;

use napi::bindgen_prelude::Buffer;
use napi::Env;
use napi_derive::napi;

use super::buffer::{count_twice, Recycle};
use super::job::{invalid_argument, step, step_with, to_napi, Shared};
use crate::pack::{PackOptions, Packer};
use crate::tar::{type_from_name, Header};

/// A header as JS gives it to `NativePack` (`toNative` in lib/header.js).
#[napi(object)]
pub struct JsHeader {
    pub name: String,
    #[napi(js_name = "type")]
    pub kind: Option<String>,
    pub size: Option<f64>,
    pub mode: Option<u32>,
    pub uid: Option<f64>,
    pub gid: Option<f64>,
    /// Seconds since the epoch.
    pub mtime: Option<f64>,
    pub linkname: Option<String>,
    pub uname: Option<String>,
    pub gname: Option<String>,
    pub devmajor: Option<u32>,
    pub devminor: Option<u32>,
    pub pax: Option<HashMap<String, String>>,
}

fn whole(value: Option<f64>, what: &str) -> napi::Result<u64> {
    match value {
        None => Ok(0),
        Some(v) if v >= 0.0 && v.fract() == 0.0 && v <= 9_007_199_254_740_991.0 => Ok(v as u64),
        Some(v) => Err(invalid_argument(format!("header.{what} must be a non-negative integer, got {v}"))),
    }
}

impl JsHeader {
    pub fn into_core(self) -> napi::Result<Header> {
        let typeflag = match self.kind.as_deref() {
            None => b'0',
            Some(kind) => type_from_name(kind).ok_or_else(|| invalid_argument(format!("Unknown entry type {kind:?}")))?,
        };
        let mtime = self.mtime.unwrap_or(0.0);
        if !mtime.is_finite() {
            return Err(invalid_argument("header.mtime is not a valid date"));
        }
        let mut pax: Vec<(String, String)> = self.pax.unwrap_or_default().into_iter().collect();
        pax.sort();
        Ok(Header {
            name: self.name,
            typeflag,
            size: whole(self.size, "size")?,
            mode: self.mode.unwrap_or(if typeflag == b'5' { 0o755 } else { 0o644 }),
            uid: whole(self.uid, "uid")?,
            gid: whole(self.gid, "gid")?,
            mtime: mtime.floor() as i64,
            linkname: self.linkname.filter(|l| !l.is_empty()),
            uname: self.uname.unwrap_or_default(),
            gname: self.gname.unwrap_or_default(),
            devmajor: self.devmajor.unwrap_or(0),
            devminor: self.devminor.unwrap_or(0),
            pax,
        })
    }
}

#[napi(object)]
pub struct PackConfig {
    /// gzip level; absent for a plain tar.
    pub gzip: Option<u32>,
    pub staging_memory: Option<f64>,
    pub staging_dir: Option<String>,
    /// Seals the whole archive in an envelope under this password (needs gzip).
    pub password: Option<String>,
}

type Step<I = ()> = super::job::Step<Packer, I, Vec<u8>>;

#[napi]
pub struct NativePack {
    shared: Arc<Shared<Packer>>,
}

#[napi]
impl NativePack {
    #[napi(constructor)]
    pub fn new(config: PackConfig) -> napi::Result<Self> {
        let options = PackOptions {
            gzip: config.gzip,
            stage_memory: whole(config.staging_memory.or(Some(4.0 * 1048576.0)), "stagingMemory")? as usize,
            stage_dir: config.staging_dir.map(Into::into),
            password: config.password,
        };
        // A plain tar's output comes at memory speed, where fresh pages made a pack 1.6x slower
        // and no smaller: only a gzip pack's is freed.
        let recycle = if options.gzip.is_some() { Recycle::Free } else { Recycle::Pool };
        Ok(NativePack { shared: Shared::with_recycle(Packer::new(options).map_err(to_napi)?, recycle) })
    }

    /// Starts an entry whose data follows through `write` (entries given whole go through `entries`).
    #[napi(ts_return_type = "Promise<Buffer>")]
    pub fn begin(&self, header: JsHeader, known_size: bool) -> napi::Result<Step> {
        let header = header.into_core()?;
        Ok(step(&self.shared, move |p| p.begin(header, known_size)))
    }

    /// Writes whole entries, each header with its data, in one call: small files cost a native
    /// call per batch instead of one each. An error names the entry it is about.
    #[napi(ts_return_type = "Promise<Buffer>")]
    pub fn entries(&self, env: Env, headers: Vec<JsHeader>, data: Vec<Buffer>) -> napi::Result<Step<Vec<Buffer>>> {
        if headers.len() != data.len() {
            return Err(invalid_argument("entries() needs one data buffer per header"));
        }
        for chunk in &data {
            count_twice(env, chunk);
        }
        let headers = headers.into_iter().map(JsHeader::into_core).collect::<napi::Result<Vec<_>>>()?;
        Ok(step_with(&self.shared, data, move |p, data| {
            let mut out = Vec::new();
            for (header, data) in headers.into_iter().zip(data) {
                let name = header.name.clone();
                let whole = || -> crate::error::Result<()> {
                    out.extend(p.begin(header, true)?);
                    out.extend(p.write(data)?);
                    out.extend(p.end()?);
                    Ok(())
                };
                whole().map_err(|e| e.entry_name(&name))?;
            }
            Ok(out)
        }))
    }

    /// Writes the next chunks of the current entry, in one call.
    #[napi(ts_return_type = "Promise<Buffer>")]
    pub fn write(&self, env: Env, chunks: Vec<Buffer>) -> Step<Vec<Buffer>> {
        for chunk in &chunks {
            count_twice(env, chunk);
        }
        step_with(&self.shared, chunks, |p, chunks| p.write_pieces(chunks))
    }

    /// Ends the current entry (a staged entry then drains through `pull`).
    #[napi(ts_return_type = "Promise<Buffer>")]
    pub fn end(&self) -> Step {
        step(&self.shared, |p| p.end())
    }

    #[napi(ts_return_type = "Promise<Buffer>")]
    pub fn pull(&self) -> Step {
        step(&self.shared, |p| p.step())
    }

    #[napi(ts_return_type = "Promise<Buffer>")]
    pub fn finalize(&self) -> Step {
        step(&self.shared, |p| p.finalize())
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
