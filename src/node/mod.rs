//! The napi surface: thin classes over the core pipelines. A pipeline's steps run on threads
//! of our own (`job::Step`), one-shot calls (a key, a small envelope, a batch of small files)
//! as `AsyncTask`s on libuv's pool; `abort()` and `hasMore()` are the only sync calls.

#[cfg(target_os = "linux")]
mod alloc;
mod app;
mod buffer;
mod extract;
mod fs;
mod job;
mod oneshot;
mod pack;
mod teardown;
mod transform;

#[cfg(target_os = "linux")]
#[global_allocator]
static ALLOCATOR: alloc::MappingAllocator = alloc::MappingAllocator;

/// Checks a name against the strict path grammar (cheap, sync): the exporter calls it so an
/// export never contains a name the importer would reject. Returns the normalised name.
#[napi_derive::napi(js_name = "checkEntryName")]
pub fn check_entry_name(name: String) -> napi::Result<String> {
    crate::policy::check_path(&name, &crate::policy::Limits::default()).map_err(job::to_napi)
}
