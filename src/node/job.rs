//! One pipeline object shared between the JS thread and the worker running its current step.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use napi::bindgen_prelude::ToNapiValue;
use napi::{sys, Env, JsValue};

use super::buffer::{OutputBuffer, Recycle};
use super::teardown::TeardownHold;
use crate::error::Error;

/// Native errors travel to JS as JSON in the message; index.js turns them into `Error`s
/// created in the caller's realm, with `code`, `entryName`, `entryIndex` and `offset`.
pub fn to_napi(e: Error) -> napi::Error {
    let json = serde_json::json!({
        "code": e.code,
        "message": e.message,
        "entryName": e.entry_name,
        "entryIndex": e.entry_index,
        "offset": e.offset,
    });
    napi::Error::from_reason(json.to_string())
}

pub fn invalid_argument(message: impl Into<String>) -> napi::Error {
    to_napi(Error::new("E_INVALID_ARGUMENT", message))
}

/// A pipeline core as the napi classes drive it: bounded steps, and whether another step
/// would produce more without new input.
pub trait Core: Send + 'static {
    fn has_more(&self) -> bool;
}

impl<T: crate::transform::Transform + 'static> Core for crate::transform::Pump<T> {
    fn has_more(&self) -> bool {
        crate::transform::Pump::has_more(self)
    }
}

impl Core for crate::pack::Packer {
    fn has_more(&self) -> bool {
        crate::pack::Packer::has_more(self)
    }
}

pub struct Shared<T> {
    core: Mutex<Option<T>>,
    aborted: AtomicBool,
    has_more: AtomicBool,
    /// What becomes of the output Buffers' memory.
    recycle: Recycle,
}

impl<T: Core> Shared<T> {
    /// A pipeline whose output goes back to the pool once collected.
    pub fn new(core: T) -> Arc<Self> {
        Self::with_recycle(core, Recycle::Pool)
    }

    pub fn with_recycle(core: T, recycle: Recycle) -> Arc<Self> {
        let (aborted, has_more) = (AtomicBool::new(false), AtomicBool::new(false));
        Arc::new(Shared { core: Mutex::new(Some(core)), aborted, has_more, recycle })
    }

    /// Stops the pipeline: the running step (if any) finishes and is discarded, the core
    /// and whatever it holds (temp files included) are dropped.
    pub fn abort(&self) {
        self.aborted.store(true, Ordering::SeqCst);
        self.has_more.store(false, Ordering::SeqCst);
        if let Ok(mut core) = self.core.try_lock() {
            *core = None;
        }
    }

    pub fn has_more(&self) -> bool {
        self.has_more.load(Ordering::SeqCst)
    }

    /// Runs one step on the core. A panic becomes `E_INTERNAL` and poisons the pipeline; an
    /// error poisons it too (the core remembers its error).
    pub fn run<R>(&self, work: impl FnOnce(&mut T) -> crate::error::Result<R>) -> crate::error::Result<R> {
        if self.aborted.load(Ordering::SeqCst) {
            return Err(Error::aborted());
        }
        let mut guard = self.core.lock().unwrap_or_else(|p| p.into_inner());
        let Some(core) = guard.as_mut() else {
            return Err(Error::aborted());
        };
        let result = caught(|| work(core));
        if self.aborted.load(Ordering::SeqCst) {
            *guard = None;
            return Err(Error::aborted());
        }
        let more = result.is_ok() && guard.as_ref().is_some_and(T::has_more);
        self.has_more.store(more, Ordering::SeqCst);
        if result.is_err() {
            *guard = None;
        }
        result
    }
}

/// Runs `work`, a panic turned into `E_INTERNAL`: nothing unwinds across the FFI boundary.
pub fn caught<R>(work: impl FnOnce() -> crate::error::Result<R>) -> crate::error::Result<R> {
    catch_unwind(AssertUnwindSafe(work)).unwrap_or_else(|panic| {
        let what = panic.downcast_ref::<&str>().map(|s| s.to_string()).or_else(|| panic.downcast_ref::<String>().cloned()).unwrap_or_default();
        Err(Error::internal(format!("internal error: {what}")))
    })
}

/// What a step hands back to JS; output bytes become Buffers recycled as `recycle` says.
pub trait Deliver: Send + 'static {
    type Js: ToNapiValue;
    fn deliver(self, recycle: Recycle) -> Self::Js;
}

impl Deliver for Vec<u8> {
    type Js = OutputBuffer;
    fn deliver(self, recycle: Recycle) -> OutputBuffer {
        OutputBuffer::new(self, recycle)
    }
}

/// One step of a pipeline, as a native method returns it: JS gets a promise, and the step runs
/// on one of our threads (`crate::workers`), which settles it. `input` (the Buffers handed in)
/// goes back to the JS thread with the result, so their references are released there.
pub struct Step<T: Core, I: Send + 'static, R: Deliver> {
    shared: Arc<Shared<T>>,
    input: I,
    work: Work<T, I, R>,
}

type Work<T, I, R> = Box<dyn FnOnce(&mut T, &I) -> crate::error::Result<R> + Send>;
/// Runs on the JS thread as the step's promise settles.
type Settle<R> = Box<dyn FnOnce(Env) -> napi::Result<<R as Deliver>::Js>>;

/// The step `work` on `shared`; JS Buffers it reads go in through `step_with` instead.
pub fn step<T: Core, R: Deliver>(
    shared: &Arc<Shared<T>>,
    work: impl FnOnce(&mut T) -> crate::error::Result<R> + Send + 'static,
) -> Step<T, (), R> {
    step_with(shared, (), move |core, ()| work(core))
}

/// The step `work` on `shared`, reading `input`: its env's teardown waits until `work` is done
/// with it (`TeardownHold`), and it is released on the JS thread.
pub fn step_with<T: Core, I: Send + 'static, R: Deliver>(
    shared: &Arc<Shared<T>>,
    input: I,
    work: impl FnOnce(&mut T, &I) -> crate::error::Result<R> + Send + 'static,
) -> Step<T, I, R> {
    Step { shared: shared.clone(), input, work: Box::new(work) }
}

impl<T: Core, I: Send + 'static, R: Deliver> ToNapiValue for Step<T, I, R> {
    unsafe fn to_napi_value(raw_env: sys::napi_env, step: Self) -> napi::Result<sys::napi_value> {
        let workers = crate::workers::get().map_err(to_napi)?;
        let hold = TeardownHold::new(raw_env)?;
        let env = Env::from_raw(raw_env);
        let (deferred, promise) = match env.create_deferred::<R::Js, Settle<R>>() {
            Ok(created) => created,
            Err(e) => {
                hold.release();
                return Err(e);
            }
        };
        let Step { shared, input, work } = step;
        workers.spawn(move || {
            let result = shared.run(|core| work(core, &input));
            hold.done();
            let recycle = shared.recycle;
            deferred.resolve(Box::new(move |_env| {
                hold.release();
                drop(input);
                result.map(|output| output.deliver(recycle)).map_err(to_napi)
            }));
        });
        Ok(promise.raw())
    }
}
