//! The napi surface: thin classes over the core pipelines. Every CPU-bound call is an
//! `AsyncTask` run on the libuv pool; `abort()` and `hasMore()` are the only sync calls.

mod extract;
mod job;
mod oneshot;
mod pack;
mod transform;
