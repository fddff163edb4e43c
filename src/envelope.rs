//! The `.enc` envelope (FORMAT.md §1): `salt(16) || iv(16) || AES-256-CTR(gzip(plaintext))`,
//! key = PBKDF2-HMAC-SHA512(password, salt, 10000, 32). No MAC: a wrong password shows only
//! as a plaintext that does not start with a gzip header.

use aes::cipher::{KeyIvInit, StreamCipher};
use sha2::Sha512;

use crate::error::{Error, Result};
use crate::gzip::{GzipDecoder, GzipEncoder};
use crate::transform::{Transform, OUTPUT_CAP};

pub const HEADER_LEN: usize = 32;
pub const PBKDF2_ROUNDS: u32 = 10_000;
pub const BAD_PASSWORD: &str = "File cannot be imported";

type Cipher = ctr::Ctr128BE<aes::Aes256>;

/// Largest piece of input decrypted at once, so leftover plaintext stays small.
const DECRYPT_SLICE: usize = 256 * 1024;

fn cipher(password: &[u8], salt: &[u8], iv: &[u8]) -> Cipher {
    let mut key = [0u8; 32];
    pbkdf2::pbkdf2_hmac::<Sha512>(password, salt, PBKDF2_ROUNDS, &mut key);
    Cipher::new(&key.into(), iv.into())
}

pub fn bad_password() -> Error {
    Error::new("E_BAD_PASSWORD", BAD_PASSWORD)
}

/// Plaintext -> envelope. Salt and IV are fresh random bytes; the key is derived on the
/// first write, off the JS thread.
pub struct Encryptor {
    password: Vec<u8>,
    salt_iv: [u8; HEADER_LEN],
    cipher: Option<Cipher>,
    gzip: GzipEncoder,
}

impl Encryptor {
    pub fn new(password: &str, level: u32) -> Result<Self> {
        let mut salt_iv = [0u8; HEADER_LEN];
        getrandom::getrandom(&mut salt_iv).map_err(|e| Error::internal(format!("no randomness: {e}")))?;
        Self::with_salt_iv(password, level, salt_iv)
    }

    pub fn with_salt_iv(password: &str, level: u32, salt_iv: [u8; HEADER_LEN]) -> Result<Self> {
        Ok(Encryptor { password: password.as_bytes().to_vec(), salt_iv, cipher: None, gzip: GzipEncoder::new(level)? })
    }

    fn start(&mut self, out: &mut Vec<u8>) -> usize {
        if self.cipher.is_none() {
            self.cipher = Some(cipher(&self.password, &self.salt_iv[..16], &self.salt_iv[16..]));
            out.extend_from_slice(&self.salt_iv);
        }
        out.len()
    }
}

impl Transform for Encryptor {
    type Out = Vec<u8>;

    fn write(&mut self, input: &[u8], out: &mut Vec<u8>) -> Result<usize> {
        let from = self.start(out);
        self.gzip.encode(input, out)?;
        self.cipher.as_mut().unwrap().apply_keystream(&mut out[from..]);
        Ok(input.len())
    }

    fn finish(&mut self, out: &mut Vec<u8>) -> Result<bool> {
        let from = self.start(out);
        self.gzip.end(out)?;
        self.cipher.as_mut().unwrap().apply_keystream(&mut out[from..]);
        Ok(true)
    }
}

/// Envelope -> plaintext. Nothing is output before the first member's gzip header has
/// been decrypted and accepted, so a wrong password never leaks garbage downstream.
pub struct Decryptor {
    password: Vec<u8>,
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
            header: Vec::with_capacity(HEADER_LEN),
            cipher: None,
            plain: Vec::new(),
            plain_pos: 0,
            gzip: GzipDecoder::new(),
        }
    }

    fn inflate(&mut self, out: &mut Vec<u8>) -> Result<()> {
        while self.plain_pos < self.plain.len() && out.len() < OUTPUT_CAP {
            let first_header = self.gzip.in_first_header();
            let n = self.gzip.write(&self.plain[self.plain_pos..], out).map_err(|e| {
                if first_header && e.code != "E_INTERNAL" {
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
            self.cipher = Some(cipher(&self.password, &self.header[..16], &self.header[16..]));
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
