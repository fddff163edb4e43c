//! `NativeTransform`: gzip, gunzip, encrypt and decrypt behind one push/end/pull interface.

use std::sync::Arc;

use napi::bindgen_prelude::Buffer;
use napi_derive::napi;

use super::buffer::Recycle;
use super::job::{step, step_with, to_napi, Shared};
use crate::envelope::{Decryptor, Encryptor, KeyCache, SharedKey};
use crate::error::Result;
use crate::gzip::{GzipDecoder, GzipEncoder};
use crate::transform::{Pump, Transform};

// One per stream and on the heap already: variants of different sizes cost nothing here.
#[allow(clippy::large_enum_variant)]
pub enum ByteTransform {
    Gzip(GzipEncoder),
    Gunzip(GzipDecoder),
    Encrypt(Encryptor),
    Decrypt(Decryptor),
}

impl Transform for ByteTransform {
    type Out = Vec<u8>;

    fn write(&mut self, input: &[u8], out: &mut Vec<u8>) -> Result<usize> {
        match self {
            ByteTransform::Gzip(t) => t.write(input, out),
            ByteTransform::Gunzip(t) => t.write(input, out),
            ByteTransform::Encrypt(t) => t.write(input, out),
            ByteTransform::Decrypt(t) => t.write(input, out),
        }
    }

    fn finish(&mut self, out: &mut Vec<u8>) -> Result<bool> {
        match self {
            ByteTransform::Gzip(t) => t.finish(out),
            ByteTransform::Gunzip(t) => t.finish(out),
            ByteTransform::Encrypt(t) => t.finish(out),
            ByteTransform::Decrypt(t) => t.finish(out),
        }
    }

    fn has_buffered(&self) -> bool {
        match self {
            ByteTransform::Gzip(t) => t.has_buffered(),
            ByteTransform::Gunzip(t) => t.has_buffered(),
            ByteTransform::Encrypt(t) => t.has_buffered(),
            ByteTransform::Decrypt(t) => t.has_buffered(),
        }
    }
}

/// Derived keys of one import, by salt.
#[napi]
pub struct NativeKeyCache {
    pub(super) inner: Arc<KeyCache>,
}

#[napi]
impl NativeKeyCache {
    #[napi(constructor)]
    #[allow(clippy::new_without_default)]
    pub fn new() -> Self {
        NativeKeyCache { inner: Arc::new(KeyCache::default()) }
    }
}

type Core = Pump<ByteTransform>;
type Step<I = ()> = super::job::Step<Core, I, Vec<u8>>;

#[napi]
pub struct NativeTransform {
    shared: Arc<Shared<Core>>,
}

fn level(level: Option<u32>) -> u32 {
    level.unwrap_or(6)
}

#[napi]
impl NativeTransform {
    fn wrap(t: ByteTransform) -> Self {
        let recycle = match t {
            ByteTransform::Gunzip(_) | ByteTransform::Decrypt(_) => Recycle::Pool,
            ByteTransform::Gzip(_) | ByteTransform::Encrypt(_) => Recycle::Free,
        };
        NativeTransform { shared: Shared::with_recycle(Pump::new(t), recycle) }
    }

    #[napi(factory)]
    pub fn gzip(level_: Option<u32>) -> napi::Result<Self> {
        Ok(Self::wrap(ByteTransform::Gzip(GzipEncoder::new(level(level_)).map_err(to_napi)?)))
    }

    #[napi(factory)]
    pub fn gunzip() -> Self {
        Self::wrap(ByteTransform::Gunzip(GzipDecoder::new()))
    }

    #[napi(factory)]
    pub fn encrypt(password: String, level_: Option<u32>) -> napi::Result<Self> {
        Ok(Self::wrap(ByteTransform::Encrypt(Encryptor::new(&password, level(level_)).map_err(to_napi)?)))
    }

    /// An envelope under a key from `deriveSharedKey` (same salt, fresh IV, no PBKDF2).
    #[napi(factory)]
    pub fn encrypt_with_shared_key(shared_key: Buffer, level_: Option<u32>) -> napi::Result<Self> {
        let shared = SharedKey::from_bytes(&shared_key).map_err(to_napi)?;
        Ok(Self::wrap(ByteTransform::Encrypt(Encryptor::with_shared_key(&shared, level(level_)).map_err(to_napi)?)))
    }

    #[napi(factory)]
    pub fn decrypt(password: String) -> Self {
        Self::wrap(ByteTransform::Decrypt(Decryptor::new(&password)))
    }

    /// A decryptor sharing derived keys with the other entries of one import.
    #[napi(factory)]
    pub fn decrypt_with_cache(password: String, cache: &NativeKeyCache) -> Self {
        Self::wrap(ByteTransform::Decrypt(Decryptor::with_cache(&password, cache.inner.clone())))
    }

    /// Queues a chunk and runs one bounded step.
    #[napi(ts_return_type = "Promise<Buffer>")]
    pub fn push(&self, chunk: Buffer) -> Step<Buffer> {
        step_with(&self.shared, chunk, |core, chunk| core.push(chunk))
    }

    /// Ends the input and runs one bounded step.
    #[napi(ts_return_type = "Promise<Buffer>")]
    pub fn end(&self) -> Step {
        step(&self.shared, |core| core.end())
    }

    /// Runs one more bounded step; call while `hasMore()`.
    #[napi(ts_return_type = "Promise<Buffer>")]
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
