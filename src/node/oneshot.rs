//! `encrypt(buffer)` / `decrypt(buffer)`: whole buffers, off the JS thread; and the small
//! envelopes of an import, opened whole.

use std::sync::Arc;

use napi::bindgen_prelude::{AsyncTask, Buffer};
use napi::{Env, Task};
use napi_derive::napi;

use super::buffer::{OutputBuffer, Recycle};
use super::job::{caught, to_napi};
use super::transform::NativeKeyCache;
use crate::envelope::{Decryptor, Encryptor, KeyCache};
use crate::transform::Pump;

pub struct OneShot {
    input: Buffer,
    password: String,
    encrypt: Option<u32>,
    /// Encrypt under this key from `deriveSharedKey` instead of the password.
    shared: Option<Buffer>,
}

impl Task for OneShot {
    type Output = Vec<u8>;
    type JsValue = OutputBuffer;

    fn compute(&mut self) -> napi::Result<Vec<u8>> {
        let run = || match (self.encrypt, &self.shared) {
            (Some(level), Some(shared)) => {
                let shared = crate::envelope::SharedKey::from_bytes(shared)?;
                Pump::new(Encryptor::with_shared_key(&shared, level)?).run_all(&self.input)
            }
            (Some(level), None) => Pump::new(Encryptor::new(&self.password, level)?).run_all(&self.input),
            (None, _) => Pump::new(Decryptor::new(&self.password)).run_all(&self.input),
        };
        caught(run).map_err(to_napi)
    }

    fn resolve(&mut self, _env: Env, output: Vec<u8>) -> napi::Result<OutputBuffer> {
        Ok(OutputBuffer::new(output, if self.encrypt.is_some() { Recycle::Free } else { Recycle::Pool }))
    }
}

#[napi(js_name = "encryptBuffer")]
pub fn encrypt_buffer(input: Buffer, password: String, level: Option<u32>) -> AsyncTask<OneShot> {
    AsyncTask::new(OneShot { input, password, encrypt: Some(level.unwrap_or(6)), shared: None })
}

/// One envelope of an export's small file, under its shared key: one call instead of a stream.
#[napi(js_name = "encryptBufferWithSharedKey")]
pub fn encrypt_buffer_with_shared_key(input: Buffer, shared_key: Buffer, level: Option<u32>) -> AsyncTask<OneShot> {
    AsyncTask::new(OneShot { input, password: String::new(), encrypt: Some(level.unwrap_or(6)), shared: Some(shared_key) })
}

#[napi(js_name = "decryptBuffer")]
pub fn decrypt_buffer(input: Buffer, password: String) -> AsyncTask<OneShot> {
    AsyncTask::new(OneShot { input, password, encrypt: None, shared: None })
}

pub struct DecryptSmall {
    input: Buffer,
    password: String,
    cache: Arc<KeyCache>,
    max: usize,
}

impl Task for DecryptSmall {
    type Output = Option<Vec<u8>>;
    type JsValue = Option<OutputBuffer>;

    fn compute(&mut self) -> napi::Result<Option<Vec<u8>>> {
        let run = || Pump::new(Decryptor::with_cache(&self.password, self.cache.clone())).run_up_to(&self.input, self.max);
        caught(run).map_err(to_napi)
    }

    fn resolve(&mut self, _env: Env, output: Option<Vec<u8>>) -> napi::Result<Option<OutputBuffer>> {
        Ok(output.map(OutputBuffer::from))
    }
}

/// A small envelope of an import opened in one call, with the import's derived keys:
/// the plaintext, or null once it is over `max` bytes (then it is streamed instead).
#[napi(js_name = "decryptSmallWithCache", ts_return_type = "Promise<Buffer | null>")]
pub fn decrypt_small_with_cache(input: Buffer, password: String, cache: &NativeKeyCache, max: f64) -> AsyncTask<DecryptSmall> {
    AsyncTask::new(DecryptSmall { input, password, cache: cache.inner.clone(), max: max.max(0.0) as usize })
}

pub struct DeriveKey {
    password: String,
}

impl Task for DeriveKey {
    type Output = Vec<u8>;
    type JsValue = Buffer;

    fn compute(&mut self) -> napi::Result<Vec<u8>> {
        crate::envelope::SharedKey::derive(&self.password).map(|k| k.to_bytes()).map_err(to_napi)
    }

    fn resolve(&mut self, _env: Env, output: Vec<u8>) -> napi::Result<Buffer> {
        Ok(output.into())
    }
}

/// One PBKDF2 for the many envelopes of an export (see `SharedKey`), off the JS thread.
#[napi(js_name = "deriveSharedKey")]
pub fn derive_shared_key(password: String) -> AsyncTask<DeriveKey> {
    AsyncTask::new(DeriveKey { password })
}
