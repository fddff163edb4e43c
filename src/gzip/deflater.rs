//! One raw deflate compressor (zlib-rs through its zlib API), tuned so levels 4-6 compress
//! like zlib's.
//!
//! zlib-rs follows zlib-ng, whose levels 3-6 use a faster "medium" strategy: on app dumps its
//! level 6 output is about 3.5% larger than zlib's (Node's) level 6. zlib-rs's lazy-matching
//! engine (levels 7-9) run with zlib's own level 4-6 parameters gives zlib's ratio at about
//! the speed of zlib-rs's level 6. flate2 does not expose `deflateTune`, hence this wrapper.

use std::mem::MaybeUninit;

use libz_rs_sys::{
    deflate, deflateEnd, deflateInit2_, deflateReset, deflateSetDictionary, deflateTune, z_stream, zlibVersion, Z_BUF_ERROR,
    Z_DEFAULT_STRATEGY, Z_DEFLATED, Z_FINISH, Z_OK, Z_STREAM_END, Z_SYNC_FLUSH,
};

use crate::error::{Error, Result};

/// zlib's (good_length, max_lazy, nice_length, max_chain) for levels 4-6 (deflate.c's table).
fn zlib_parameters(level: u32) -> Option<[i32; 4]> {
    match level {
        4 => Some([4, 4, 16, 16]),
        5 => Some([8, 16, 32, 32]),
        6 => Some([8, 16, 128, 128]),
        _ => None,
    }
}

/// The level whose engine zlib-rs runs: its lazy-matching one for levels tuned like zlib.
const LAZY_ENGINE_LEVEL: i32 = 7;

#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Flush {
    /// Ends on a byte boundary with an empty stored block; the stream may continue.
    Sync,
    /// Ends the deflate stream with a final block.
    Finish,
}

pub struct Deflater {
    // Boxed: zlib's state keeps a pointer back to its stream, so the stream must not move.
    stream: Box<z_stream>,
    tune: Option<[i32; 4]>,
}

// SAFETY: the stream and the state it owns are only reached through `&mut self`.
unsafe impl Send for Deflater {}

pub fn check_level(level: u32) -> Result<()> {
    if level > 9 {
        return Err(Error::new("E_INVALID_ARGUMENT", format!("gzip level must be 0-9, got {level}")));
    }
    Ok(())
}

fn failed(what: &str, code: i32) -> Error {
    Error::internal(format!("deflate {what} failed (zlib code {code})"))
}

impl Deflater {
    pub fn new(level: u32) -> Result<Self> {
        check_level(level)?;
        let tune = zlib_parameters(level);
        let engine_level = if tune.is_some() { LAZY_ENGINE_LEVEL } else { level as i32 };
        // SAFETY: an all-zero z_stream (no allocator functions, no buffers) is what deflateInit2_ expects.
        let mut stream: Box<z_stream> = Box::new(unsafe { MaybeUninit::zeroed().assume_init() });
        let size = std::mem::size_of::<z_stream>() as i32;
        // SAFETY: `stream` is a valid, boxed z_stream; raw deflate (-15 window bits), memLevel 8 as zlib's default.
        let code = unsafe { deflateInit2_(&mut *stream, engine_level, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY, zlibVersion(), size) };
        if code != Z_OK {
            return Err(failed("init", code));
        }
        let mut deflater = Deflater { stream, tune };
        deflater.apply_tune()?;
        Ok(deflater)
    }

    fn apply_tune(&mut self) -> Result<()> {
        if let Some([good, lazy, nice, chain]) = self.tune {
            // SAFETY: the stream was initialised by deflateInit2_.
            let code = unsafe { deflateTune(&mut *self.stream, good, lazy, nice, chain) };
            if code != Z_OK {
                return Err(failed("tune", code));
            }
        }
        Ok(())
    }

    /// Starts a new stream with the same settings (zlib's reset also resets the tuning).
    pub fn reset(&mut self) -> Result<()> {
        // SAFETY: the stream was initialised by deflateInit2_.
        let code = unsafe { deflateReset(&mut *self.stream) };
        if code != Z_OK {
            return Err(failed("reset", code));
        }
        self.apply_tune()
    }

    /// Primes a freshly reset stream with up to 32 KiB the decoder will have seen before it.
    pub fn set_dictionary(&mut self, dictionary: &[u8]) -> Result<()> {
        // SAFETY: the stream was initialised; the pointer and length describe `dictionary`.
        let code = unsafe { deflateSetDictionary(&mut *self.stream, dictionary.as_ptr(), dictionary.len() as u32) };
        if code != Z_OK {
            return Err(failed("set dictionary", code));
        }
        Ok(())
    }

    /// Compresses all of `input` onto `out`, growing it as needed, and ends as `flush` says.
    pub fn compress(&mut self, input: &[u8], out: &mut Vec<u8>, flush: Flush) -> Result<()> {
        let flush = match flush {
            Flush::Sync => Z_SYNC_FLUSH,
            Flush::Finish => Z_FINISH,
        };
        let mut consumed = 0;
        loop {
            out.reserve((input.len() - consumed) / 2 + 1024);
            let rest = &input[consumed..];
            let chunk = rest.len().min(u32::MAX as usize);
            let spare = out.spare_capacity_mut();
            let room = spare.len().min(u32::MAX as usize);
            self.stream.next_in = rest.as_ptr() as *mut u8;
            self.stream.avail_in = chunk as u32;
            self.stream.next_out = spare.as_mut_ptr() as *mut u8;
            self.stream.avail_out = room as u32;
            let last_input = chunk == rest.len();
            // SAFETY: next_in/avail_in describe readable input and next_out/avail_out writable spare capacity of `out`.
            let code = unsafe { deflate(&mut *self.stream, if last_input { flush } else { 0 }) };
            let read = chunk - self.stream.avail_in as usize;
            let written = room - self.stream.avail_out as usize;
            self.stream.next_in = std::ptr::null_mut();
            self.stream.next_out = std::ptr::null_mut();
            // SAFETY: deflate initialised the first `written` bytes of the spare capacity.
            unsafe { out.set_len(out.len() + written) };
            consumed += read;
            match code {
                Z_STREAM_END => return Ok(()),
                Z_OK | Z_BUF_ERROR => {
                    // Done once all input is in and deflate left output room to spare (nothing held back).
                    if last_input && consumed == input.len() && flush == Z_SYNC_FLUSH && self.stream.avail_out > 0 {
                        return Ok(());
                    }
                }
                code => return Err(failed("compress", code)),
            }
        }
    }
}

impl Drop for Deflater {
    fn drop(&mut self) {
        // SAFETY: the stream was initialised by deflateInit2_ and is ended once.
        unsafe { deflateEnd(&mut *self.stream) };
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    fn text(n: usize) -> Vec<u8> {
        (0..n as u32).flat_map(|i| format!("{{\"_id\":\"ro_{}\",\"n\":{}}}\n", i.wrapping_mul(2654435761) % 100_000, i % 977).into_bytes()).collect()
    }

    fn inflate(raw: &[u8]) -> Vec<u8> {
        let mut back = Vec::new();
        flate2::read::DeflateDecoder::new(raw).read_to_end(&mut back).unwrap();
        back
    }

    #[test]
    fn every_level_round_trips_and_tuned_levels_compress_like_zlib() {
        let data = text(200_000);
        for level in 0..=9 {
            let mut d = Deflater::new(level).unwrap();
            let mut out = Vec::new();
            d.compress(&data, &mut out, Flush::Finish).unwrap();
            assert!(inflate(&out) == data, "level {level}");
            if level == 6 {
                let mut zlib_rs_6 = Vec::with_capacity(data.len());
                let mut c = flate2::Compress::new(flate2::Compression::new(6), false);
                c.compress_vec(&data, &mut zlib_rs_6, flate2::FlushCompress::Finish).unwrap();
                assert!(out.len() < zlib_rs_6.len(), "tuned level 6: {} bytes, zlib-rs level 6: {}", out.len(), zlib_rs_6.len());
            }
        }
    }

    #[test]
    fn sync_flushed_pieces_with_dictionaries_join_into_one_stream() {
        let data = text(100_000);
        let mut d = Deflater::new(6).unwrap();
        let mut out = Vec::new();
        let pieces: Vec<&[u8]> = data.chunks(300_000).collect();
        for (i, piece) in pieces.iter().enumerate() {
            d.reset().unwrap();
            if i > 0 {
                let prev = pieces[i - 1];
                d.set_dictionary(&prev[prev.len() - 32 * 1024..]).unwrap();
            }
            d.compress(piece, &mut out, if i == pieces.len() - 1 { Flush::Finish } else { Flush::Sync }).unwrap();
        }
        assert!(inflate(&out) == data);
    }

    #[test]
    fn levels_above_nine_are_refused() {
        assert_eq!(Deflater::new(10).err().unwrap().code, "E_INVALID_ARGUMENT");
    }
}
