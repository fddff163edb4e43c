//! `NativeTarget` / `NativeTargetFile`: extraction into a folder by handle (`crate::fs`);
//! `readFolderFiles`: a folder being exported, read a batch of files per call (`crate::folder`).

use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use napi::bindgen_prelude::{AsyncTask, Buffer};
use napi::{Env, Task};
use napi_derive::napi;

use super::buffer::{OutputBuffer, Recycle};
use super::job::{caught, step, step_with, to_napi, Core, Deliver, Shared};
use crate::error::{Error, Result};
use crate::folder::{read_batch, FolderFile};
use crate::fs::{FileWriter, Target};

pub struct OpenTarget {
    path: String,
}

impl Task for OpenTarget {
    type Output = Target;
    type JsValue = NativeTarget;

    fn compute(&mut self) -> napi::Result<Target> {
        Target::open(std::path::Path::new(&self.path)).map_err(to_napi)
    }

    fn resolve(&mut self, _env: Env, target: Target) -> napi::Result<NativeTarget> {
        Ok(NativeTarget { target: Mutex::new(Some(Arc::new(target))) })
    }
}

/// Creates the folder if needed and opens it; resolves to a `NativeTarget`.
#[napi(js_name = "openTarget", ts_return_type = "Promise<NativeTarget>")]
pub fn open_target(path: String) -> AsyncTask<OpenTarget> {
    AsyncTask::new(OpenTarget { path })
}

/// An extraction folder, held open by descriptor until `close()` (and until the files
/// still being opened below it have their folders).
#[napi]
pub struct NativeTarget {
    target: Mutex<Option<Arc<Target>>>,
}

#[napi]
impl NativeTarget {
    #[napi]
    pub fn close(&self) {
        self.target.lock().unwrap_or_else(|p| p.into_inner()).take();
    }
}

/// One file being written below a `NativeTarget`: `open()`, `write()`s, `commit()`; `abort()`
/// (or any error) removes what was written.
pub struct TargetFile {
    /// Held only until `open()`: afterwards the file needs just its own folder.
    target: Option<Arc<Target>>,
    name: String,
    writer: Option<FileWriter>,
}

impl Core for TargetFile {
    fn has_more(&self) -> bool {
        false
    }
}

impl TargetFile {
    fn writer(&mut self) -> Result<&mut FileWriter> {
        self.writer.as_mut().ok_or_else(|| Error::internal("the file is not open"))
    }
}

impl Deliver for () {
    type Js = ();
    fn deliver(self, _recycle: Recycle) {}
}

type Step<I = ()> = super::job::Step<TargetFile, I, ()>;

#[napi]
pub struct NativeTargetFile {
    shared: Arc<Shared<TargetFile>>,
}

#[napi]
impl NativeTargetFile {
    #[napi(constructor)]
    pub fn new(target: &NativeTarget, name: String) -> Self {
        let target = target.target.lock().unwrap_or_else(|p| p.into_inner()).clone();
        let core = TargetFile { target, name, writer: None };
        NativeTargetFile { shared: Shared::new(core) }
    }

    /// Opens (creating) the entry's folders by handle and an exclusive temp file.
    #[napi(ts_return_type = "Promise<void>")]
    pub fn open(&self) -> Step {
        step(&self.shared, |core| {
            let target = core.target.take().ok_or_else(|| Error::new("E_IO", "The extraction folder is closed"))?;
            core.writer = Some(target.create(&core.name)?);
            Ok(())
        })
    }

    #[napi(ts_return_type = "Promise<void>")]
    pub fn write(&self, chunk: Buffer) -> Step<Buffer> {
        step_with(&self.shared, chunk, |core, chunk| core.writer()?.write(chunk))
    }

    /// Links the complete file under its name; `mtime_ms` is set through the descriptor.
    #[napi(ts_return_type = "Promise<void>")]
    pub fn commit(&self, mtime_ms: Option<f64>) -> Step {
        step(&self.shared, move |core| {
            let mtime = mtime_ms.filter(|ms| ms.is_finite() && *ms >= 0.0).map(|ms| SystemTime::UNIX_EPOCH + Duration::from_millis(ms as u64));
            let writer = core.writer.take().ok_or_else(|| Error::internal("the file is not open"))?;
            writer.commit(mtime)
        })
    }

    #[napi]
    pub fn abort(&self) {
        self.shared.abort()
    }
}

/// One file of `readFolderFiles`: `error` is a native error's JSON (`fromNative`) when the
/// file could not be opened or read.
#[napi(object, object_from_js = false)]
pub struct JsFolderFile {
    pub size: f64,
    pub mtime_ms: f64,
    #[napi(ts_type = "Buffer")]
    pub data: Option<OutputBuffer>,
    pub error: Option<String>,
}

pub struct ReadFolderFiles {
    dir: String,
    names: Vec<String>,
    whole_up_to: u64,
    budget: u64,
}

impl Task for ReadFolderFiles {
    type Output = Vec<Result<FolderFile>>;
    type JsValue = Vec<JsFolderFile>;

    fn compute(&mut self) -> napi::Result<Self::Output> {
        caught(|| Ok(read_batch(std::path::Path::new(&self.dir), &self.names, self.whole_up_to, self.budget))).map_err(to_napi)
    }

    fn resolve(&mut self, _env: Env, files: Self::Output) -> napi::Result<Vec<JsFolderFile>> {
        Ok(files
            .into_iter()
            .map(|file| match file {
                Ok(f) => JsFolderFile {
                    size: f.size as f64,
                    mtime_ms: f.mtime.duration_since(SystemTime::UNIX_EPOCH).map_or(0.0, |d| d.as_secs_f64() * 1000.0),
                    data: f.data.map(OutputBuffer::from),
                    error: None,
                },
                Err(e) => JsFolderFile { size: 0.0, mtime_ms: 0.0, data: None, error: Some(to_napi(e).reason) },
            })
            .collect())
    }
}

/// Sizes and mtimes of `names` below `dir`, with the whole bytes of files of up to
/// `wholeUpTo` bytes while `budget` bytes last (`crate::folder`).
#[napi(js_name = "readFolderFiles", ts_return_type = "Promise<Array<JsFolderFile>>")]
pub fn read_folder_files(dir: String, names: Vec<String>, whole_up_to: f64, budget: f64) -> AsyncTask<ReadFolderFiles> {
    AsyncTask::new(ReadFolderFiles { dir, names, whole_up_to: whole_up_to.max(0.0) as u64, budget: budget.max(0.0) as u64 })
}
