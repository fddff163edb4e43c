//! Output handed to JS without a copy, as napi's `Buffer` does, except that its memory comes
//! back to the core once V8 has collected it: to the pool (`crate::pool`) for the next steps'
//! output, or to be freed.

use std::ffi::c_void;
use std::ptr;

use napi::bindgen_prelude::{Buffer, ToNapiValue, TypeName};
use napi::{sys, Env, ValueType};

/// What becomes of an output Buffer's memory once V8 has collected it.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Recycle {
    /// Back to the pool. Import output comes at a GB/s, where fresh pages cost more than
    /// inflating into them.
    Pool,
    /// Freed (by the pool's thread): compressed output (a gzip pack, gzip, encrypt). An export's
    /// sources bring V8's collections often with their own garbage, and what the pool held for
    /// it between two of them was 10-14 MiB of a 2 GiB export's peak. Fresh buffers made that
    /// export up to 6% slower, and a gzip pack of incompressible files alone 20% slower.
    Free,
}

pub struct OutputBuffer {
    data: Vec<u8>,
    recycle: Recycle,
}

impl OutputBuffer {
    /// `data` as the core handed it out (see `crate::pool::fit`): the whole allocation goes to JS.
    pub fn new(data: Vec<u8>, recycle: Recycle) -> Self {
        OutputBuffer { data, recycle }
    }
}

impl From<Vec<u8>> for OutputBuffer {
    fn from(data: Vec<u8>) -> Self {
        OutputBuffer::new(data, Recycle::Pool)
    }
}

unsafe extern "C" fn give_back(_env: sys::napi_env, _data: *mut c_void, hint: *mut c_void) {
    // SAFETY: `hint` is the box made in `to_napi_value`, handed to this finalizer once.
    let data = unsafe { Box::from_raw(hint.cast::<Vec<u8>>()) };
    crate::pool::returned(*data);
}

unsafe extern "C" fn free(_env: sys::napi_env, _data: *mut c_void, hint: *mut c_void) {
    // SAFETY: as in `give_back`.
    let data = unsafe { Box::from_raw(hint.cast::<Vec<u8>>()) };
    crate::pool::free(*data);
}

impl ToNapiValue for OutputBuffer {
    unsafe fn to_napi_value(env: sys::napi_env, value: Self) -> napi::Result<sys::napi_value> {
        let mut result = ptr::null_mut();
        let finalize = if value.recycle == Recycle::Pool { give_back } else { free };
        let data = value.data;
        let len = data.len();
        // SAFETY: plain napi calls on the JS thread; an external buffer's bytes stay alive in
        // the box until its finalizer runs, and only a copy is made when external buffers are
        // not allowed (Electron).
        let status = unsafe {
            if len == 0 {
                sys::napi_create_buffer(env, 0, ptr::null_mut(), &mut result)
            } else {
                let boxed = Box::into_raw(Box::new(data));
                let bytes = (*boxed).as_mut_ptr().cast::<c_void>();
                let status = sys::napi_create_external_buffer(env, len, bytes, Some(finalize), boxed.cast(), &mut result);
                if status == sys::Status::napi_ok {
                    count_twice_for_young_collections(env, bytes, len);
                }
                if status == sys::Status::napi_no_external_buffers_allowed {
                    let data = Box::from_raw(boxed);
                    sys::napi_create_buffer_copy(env, len, data.as_ptr().cast(), ptr::null_mut(), &mut result)
                } else {
                    if status != sys::Status::napi_ok {
                        drop(Box::from_raw(boxed));
                    }
                    status
                }
            }
        };
        if status != sys::Status::napi_ok {
            return Err(napi::Error::new(napi::Status::from(status), "Failed to create a Buffer"));
        }
        if len > 0 {
            // SAFETY: a plain napi call on the JS thread.
            unsafe { give_v8_its_young_collection_point(env) };
        }
        Ok(result)
    }
}

/// A second, unreachable Buffer over the same bytes, with no finalizer: V8 collects the young
/// generation once its backing stores reach 32 MiB (below), and consumed output is most of
/// them, so counted twice it waits for the next collection half as long. A 2 GiB import peaked
/// 85-91 MiB RSS with it and 102-107 without, a 2 GiB export 99-102 against 108-112, at the
/// same speed (4 and 3 interleaved runs): young collections find little alive, so twice as
/// many cost little. V8 reads no backing store while collecting, and the alias is never
/// reachable, so it does not matter which of the two is collected first.
unsafe fn count_twice_for_young_collections(env: sys::napi_env, bytes: *mut c_void, len: usize) {
    let mut alias = ptr::null_mut();
    // SAFETY: plain napi call on the JS thread; the result is left to the handle scope, and
    // nothing frees `bytes` through it.
    unsafe { sys::napi_create_external_buffer(env, len, bytes, None, ptr::null_mut(), &mut alias) };
}

/// An export's input counts twice as well (`count_twice_for_young_collections`): its sources'
/// chunks are garbage once packed, and most of what is left of the young generation's 32 MiB.
/// A 2 GiB export peaked 97-98 MiB RSS with it and 99-104 without, the bench corpus's export
/// 85 against 96-97, within 1% of the same time. Not done for gzip streams: gzip alone
/// peaked 8 MiB lower but ran 2-3% slower.
pub fn count_twice(env: Env, chunk: &Buffer) {
    if !chunk.is_empty() {
        // SAFETY: `env` is the JS thread's; the alias is never read (see the function).
        unsafe { count_twice_for_young_collections(env.raw(), chunk.as_ptr().cast_mut().cast(), chunk.len()) };
    }
}

/// V8 counts our external Buffers among the young generation's backing-store bytes, but it
/// checks that count (a young collection once it passes twice the semi-space, 32 MiB) only
/// when it allocates a backing store itself (`Heap::AllocateExternalBackingStore`). Output
/// with nothing else allocating, such as a staged dump replayed to a fast sink, otherwise
/// piles up consumed Buffers until an old-generation collection (about 64 MiB of them): a
/// 2 GiB export peaked 136 MiB above an idle Node without this one-byte ArrayBuffer, 95 with it.
unsafe fn give_v8_its_young_collection_point(env: sys::napi_env) {
    let mut data = ptr::null_mut();
    let mut array_buffer = ptr::null_mut();
    // SAFETY: plain napi call on the JS thread; the result is left to the handle scope.
    unsafe { sys::napi_create_arraybuffer(env, 1, &mut data, &mut array_buffer) };
}

impl TypeName for OutputBuffer {
    fn type_name() -> &'static str {
        "Buffer"
    }
    fn value_type() -> ValueType {
        ValueType::Object
    }
}
