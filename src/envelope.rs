//! The `.enc` envelope (FORMAT.md §1): `salt(16) || iv(16) || AES-256-CTR(gzip(plaintext))`,
//! key = PBKDF2-HMAC-SHA512(password, salt, 10000, 32). No MAC: a wrong password shows only
//! as a plaintext that does not start with a gzip header.

use aes::cipher::{KeyIvInit, StreamCipher};
use sha2::Sha512;

use crate::error::{Error, Result};
use crate::gzip::{GzipDecoder, GzipEncoder};
use crate::transform::{Transform, OUTPUT_CAP};

pub const HEADER_LEN: usize = 32;
/// The salt comes first in the header, then the IV.
pub const SALT_LEN: usize = 16;
pub const PBKDF2_ROUNDS: u32 = 10_000;
pub const BAD_PASSWORD: &str = "File cannot be imported";

type Cipher = ctr::Ctr128BE<aes::Aes256>;

/// Largest piece of input decrypted at once, so leftover plaintext stays small.
const DECRYPT_SLICE: usize = 256 * 1024;

fn derive(password: &[u8], salt: &[u8]) -> [u8; 32] {
    let mut key = [0u8; 32];
    pbkdf2::pbkdf2_hmac::<Sha512>(password, salt, PBKDF2_ROUNDS, &mut key);
    key
}

fn random<const N: usize>() -> Result<[u8; N]> {
    let mut bytes = [0u8; N];
    getrandom::getrandom(&mut bytes).map_err(|e| Error::internal(format!("no randomness: {e}")))?;
    Ok(bytes)
}

/// A key derived once and shared by the envelopes of one export: each envelope carries the
/// same salt and its own random IV, so any reader derives the key from the envelope as usual,
/// while the writer pays for PBKDF2 once instead of once per file. With random 128-bit IVs the
/// CTR keystreams of different envelopes do not overlap in practice.
#[derive(Clone)]
pub struct SharedKey {
    pub salt: [u8; 16],
    pub key: [u8; 32],
}

impl SharedKey {
    pub fn derive(password: &str) -> Result<Self> {
        let salt = random::<16>()?;
        Ok(SharedKey { salt, key: derive(password.as_bytes(), &salt) })
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        [&self.salt[..], &self.key[..]].concat()
    }

    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        if bytes.len() != 48 {
            return Err(Error::new("E_INVALID_ARGUMENT", "a shared key is 48 bytes"));
        }
        Ok(SharedKey { salt: bytes[..16].try_into().unwrap(), key: bytes[16..].try_into().unwrap() })
    }
}

pub fn bad_password() -> Error {
    Error::new("E_BAD_PASSWORD", BAD_PASSWORD)
}

/// Plaintext -> envelope. Salt and IV are fresh random bytes; the key is derived on the
/// first write, off the JS thread.
pub struct Encryptor {
    password: Vec<u8>,
    key: Option<[u8; 32]>,
    salt_iv: [u8; HEADER_LEN],
    cipher: Option<Cipher>,
    /// `None` when the input is one gzip stream already (a gzip pack's output).
    gzip: Option<GzipEncoder>,
}

impl Encryptor {
    pub fn new(password: &str, level: u32) -> Result<Self> {
        Self::with_salt_iv(password, level, random::<HEADER_LEN>()?)
    }

    pub fn with_salt_iv(password: &str, level: u32, salt_iv: [u8; HEADER_LEN]) -> Result<Self> {
        Ok(Encryptor { password: password.as_bytes().to_vec(), key: None, salt_iv, cipher: None, gzip: Some(GzipEncoder::new(level)?) })
    }

    /// An envelope around bytes that are one gzip stream already: only the header and
    /// AES-CTR are added, so a gzip pack's output (staged entries spliced, compressed once)
    /// becomes a whole-archive envelope without a second compression.
    pub fn around_gzip(password: &str) -> Result<Self> {
        let salt_iv = random::<HEADER_LEN>()?;
        Ok(Encryptor { password: password.as_bytes().to_vec(), key: None, salt_iv, cipher: None, gzip: None })
    }

    /// An envelope under an already derived key: its salt, a fresh IV, no PBKDF2.
    pub fn with_shared_key(shared: &SharedKey, level: u32) -> Result<Self> {
        let mut salt_iv = [0u8; HEADER_LEN];
        salt_iv[..16].copy_from_slice(&shared.salt);
        salt_iv[16..].copy_from_slice(&random::<16>()?);
        Ok(Encryptor { password: Vec::new(), key: Some(shared.key), salt_iv, cipher: None, gzip: Some(GzipEncoder::new(level)?) })
    }

    /// For an envelope `around_gzip`: encrypts `data` where it lies, the envelope header put in
    /// front of the first piece. Saves a copy per piece over `write`.
    pub fn seal_in_place(&mut self, data: &mut Vec<u8>) {
        debug_assert!(self.gzip.is_none(), "seal_in_place is for input that is gzip already");
        let mut header = Vec::new();
        self.start(&mut header);
        self.cipher.as_mut().unwrap().apply_keystream(data);
        if !header.is_empty() {
            data.splice(0..0, header);
        }
    }

    fn start(&mut self, out: &mut Vec<u8>) -> usize {
        if self.cipher.is_none() {
            let key = self.key.unwrap_or_else(|| derive(&self.password, &self.salt_iv[..16]));
            self.cipher = Some(Cipher::new(&key.into(), self.salt_iv[16..].into()));
            out.extend_from_slice(&self.salt_iv);
        }
        out.len()
    }
}

impl Transform for Encryptor {
    type Out = Vec<u8>;

    fn write(&mut self, input: &[u8], out: &mut Vec<u8>) -> Result<usize> {
        let from = self.start(out);
        match &mut self.gzip {
            Some(gzip) => gzip.encode(input, out)?,
            None => out.extend_from_slice(input),
        }
        self.cipher.as_mut().unwrap().apply_keystream(&mut out[from..]);
        Ok(input.len())
    }

    fn finish(&mut self, out: &mut Vec<u8>) -> Result<bool> {
        let from = self.start(out);
        if let Some(gzip) = &mut self.gzip {
            gzip.end(out)?;
        }
        self.cipher.as_mut().unwrap().apply_keystream(&mut out[from..]);
        Ok(true)
    }
}

/// Keys already derived for one password, by salt: envelopes made with a `SharedKey` repeat
/// their salt, so an importer derives the key once per export instead of once per file.
#[derive(Default)]
pub struct KeyCache {
    keys: std::sync::Mutex<std::collections::HashMap<[u8; 16], [u8; 32]>>,
}

impl KeyCache {
    const MAX_KEYS: usize = 4096;

    /// `true` when the key of the envelope starting with `salt` is already derived.
    pub fn has(&self, salt: &[u8]) -> bool {
        let Ok(salt) = <[u8; SALT_LEN]>::try_from(salt) else { return false };
        self.keys.lock().unwrap_or_else(|p| p.into_inner()).contains_key(&salt)
    }

    fn key(&self, password: &[u8], salt: &[u8]) -> [u8; 32] {
        let salt: [u8; 16] = salt.try_into().expect("16-byte salt");
        if let Some(key) = self.keys.lock().unwrap_or_else(|p| p.into_inner()).get(&salt) {
            return *key;
        }
        let key = derive(password, &salt);
        let mut keys = self.keys.lock().unwrap_or_else(|p| p.into_inner());
        if keys.len() < Self::MAX_KEYS {
            keys.insert(salt, key);
        }
        key
    }
}

/// Envelope -> plaintext. Nothing is output before the first member's gzip header has
/// been decrypted and accepted, so a wrong password never leaks garbage downstream.
pub struct Decryptor {
    password: Vec<u8>,
    cache: Option<std::sync::Arc<KeyCache>>,
    header: Vec<u8>,
    cipher: Option<Cipher>,
    plain: Vec<u8>,
    plain_pos: usize,
    gzip: GzipDecoder,
}

impl Decryptor {
    pub fn new(password: &str) -> Self {
        Decryptor {
            password: password.as_bytes().to_vec(),
            cache: None,
            header: Vec::with_capacity(HEADER_LEN),
            cipher: None,
            plain: Vec::new(),
            plain_pos: 0,
            gzip: GzipDecoder::new(),
        }
    }

    /// A decryptor that shares derived keys with the other envelopes of one import.
    pub fn with_cache(password: &str, cache: std::sync::Arc<KeyCache>) -> Self {
        Decryptor { cache: Some(cache), ..Self::new(password) }
    }

    fn inflate(&mut self, out: &mut Vec<u8>) -> Result<()> {
        while self.plain_pos < self.plain.len() && out.len() < OUTPUT_CAP {
            let gzip = &mut self.gzip;
            let n = gzip.write(&self.plain[self.plain_pos..], out).map_err(|e| {
                // Only a fault inside the first gzip header means a wrong key: decided by
                // where the fault is, not by where the input was cut.
                if gzip.in_first_header() && e.code != "E_INTERNAL" {
                    bad_password()
                } else {
                    e.shifted(HEADER_LEN as u64)
                }
            })?;
            self.plain_pos += n;
        }
        Ok(())
    }
}

impl Transform for Decryptor {
    type Out = Vec<u8>;

    fn write(&mut self, input: &[u8], out: &mut Vec<u8>) -> Result<usize> {
        if self.plain_pos < self.plain.len() {
            self.inflate(out)?;
            return Ok(0);
        }
        let mut used = 0;
        if self.cipher.is_none() {
            used = (HEADER_LEN - self.header.len()).min(input.len());
            self.header.extend_from_slice(&input[..used]);
            if self.header.len() < HEADER_LEN {
                return Ok(used);
            }
            let (salt, iv) = self.header.split_at(16);
            let key = match &self.cache {
                Some(cache) => cache.key(&self.password, salt),
                None => derive(&self.password, salt),
            };
            self.cipher = Some(Cipher::new(&key.into(), iv.into()));
        }
        let take = (input.len() - used).min(DECRYPT_SLICE);
        self.plain.clear();
        self.plain.extend_from_slice(&input[used..used + take]);
        self.plain_pos = 0;
        self.cipher.as_mut().unwrap().apply_keystream(&mut self.plain);
        self.inflate(out)?;
        Ok(used + take)
    }

    fn has_buffered(&self) -> bool {
        self.plain_pos < self.plain.len()
    }

    fn finish(&mut self, out: &mut Vec<u8>) -> Result<bool> {
        if self.cipher.is_none() {
            return Err(Error::new(
                "E_ENC_HEADER_TRUNCATED",
                format!("Encrypted input is {} bytes, shorter than its {HEADER_LEN}-byte header", self.header.len()),
            ));
        }
        self.gzip.finish(out).map_err(|e| match e.code {
            "E_EMPTY_INPUT" => Error::truncated("the encrypted data").at(HEADER_LEN as u64),
            _ => e.shifted(HEADER_LEN as u64),
        })
    }
}
