//! Holds an environment's teardown until a step on our threads is done with the Buffers it
//! reads. A worker thread's heap goes with its environment, and Node waits at teardown for its
//! own thread pool's work but knows nothing of our threads.

use std::ffi::c_void;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, PoisonError};

use napi::sys;

#[derive(Default)]
struct Running {
    done: Mutex<bool>,
    finished: Condvar,
    /// Set by whichever comes first, the hook or `release`: that one frees the hook's reference.
    claimed: AtomicBool,
}

/// One step's hold on its environment's teardown, made on the JS thread.
pub struct TeardownHold {
    env: sys::napi_env,
    running: Arc<Running>,
}

// SAFETY: `env` is only used again in `release`, which runs on the environment's own thread.
unsafe impl Send for TeardownHold {}

impl TeardownHold {
    /// # Safety
    /// `env` is the calling thread's live environment.
    pub unsafe fn new(env: sys::napi_env) -> napi::Result<Self> {
        let running = Arc::new(Running::default());
        let data = Arc::into_raw(running.clone()) as *mut c_void;
        let status = sys::napi_add_env_cleanup_hook(env, Some(wait_for_step), data);
        if status != sys::Status::napi_ok {
            drop(Arc::from_raw(data as *const Running));
            return Err(super::job::to_napi(crate::error::Error::internal("could not register an environment cleanup hook")));
        }
        Ok(TeardownHold { env, running })
    }

    /// The step no longer reads its input: a teardown may go on. Called on the step's thread.
    pub fn done(&self) {
        *self.running.done.lock().unwrap_or_else(PoisonError::into_inner) = true;
        self.running.finished.notify_all();
    }

    /// # Safety
    /// Called on the environment's thread while it is alive (the step's promise is settling).
    pub unsafe fn release(self) {
        if !self.running.claimed.swap(true, Ordering::SeqCst) {
            let data = Arc::as_ptr(&self.running) as *mut c_void;
            sys::napi_remove_env_cleanup_hook(self.env, Some(wait_for_step), data);
            drop(Arc::from_raw(data as *const Running));
        }
    }
}

/// The cleanup hook: the environment is going away with the step still running.
unsafe extern "C" fn wait_for_step(data: *mut c_void) {
    let running = &*(data as *const Running);
    if running.claimed.swap(true, Ordering::SeqCst) {
        return;
    }
    let mut done = running.done.lock().unwrap_or_else(PoisonError::into_inner);
    while !*done {
        done = running.finished.wait(done).unwrap_or_else(PoisonError::into_inner);
    }
    drop(done);
    drop(Arc::from_raw(data as *const Running));
}
