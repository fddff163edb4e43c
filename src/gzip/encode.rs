//! One standard gzip member: header, raw deflate from `DeflateBlocks` (parallel, see
//! blocks.rs), CRC32 and size. Deflate compressed elsewhere can be spliced in between.

use super::blocks::{threads, DeflateBlocks};

use crate::error::Result;
use crate::transform::Transform;

pub struct GzipEncoder {
    level: u32,
    blocks: DeflateBlocks,
    crc: crc32fast::Hasher,
    size: u64,
    header_written: bool,
    finished: bool,
}

impl GzipEncoder {
    pub fn new(level: u32) -> Result<Self> {
        Self::with_threads(level, threads())
    }

    pub fn with_threads(level: u32, threads: usize) -> Result<Self> {
        Ok(GzipEncoder {
            level,
            blocks: DeflateBlocks::new(level, threads)?,
            crc: crc32fast::Hasher::new(),
            size: 0,
            header_written: false,
            finished: false,
        })
    }

    pub fn level(&self) -> u32 {
        self.level
    }

    pub fn threads(&self) -> usize {
        self.blocks.threads()
    }

    fn header(&mut self, out: &mut Vec<u8>) {
        if !self.header_written {
            let xfl = match self.level {
                9 => 2,
                1 => 4,
                _ => 0,
            };
            out.extend_from_slice(&[0x1f, 0x8b, 8, 0, 0, 0, 0, 0, xfl, 3]);
            self.header_written = true;
        }
    }

    /// Takes all of `input`; compresses once enough whole blocks have gathered.
    pub fn encode(&mut self, input: &[u8], out: &mut Vec<u8>) -> Result<()> {
        self.header(out);
        self.crc.update(input);
        self.size += input.len() as u64;
        self.blocks.write(input, out)
    }

    /// Before deflate compressed elsewhere is appended to `out`: what is pending is
    /// compressed and the stream left on a byte boundary.
    pub fn splice_begin(&mut self, out: &mut Vec<u8>) -> Result<()> {
        self.header(out);
        self.blocks.flush(false, out)
    }

    /// After the spliced deflate: it held `len` bytes with checksum `crc`, ending in `tail`
    /// (its last bytes, up to 32 KiB), and may refer back only to its own bytes.
    pub fn splice_end(&mut self, crc: &crc32fast::Hasher, len: u64, tail: &[u8]) {
        self.crc.combine(crc);
        self.size += len;
        self.blocks.restart(tail);
    }

    /// Ends the member: the remaining blocks, the final deflate block and the trailer. Idempotent.
    pub fn end(&mut self, out: &mut Vec<u8>) -> Result<()> {
        if self.finished {
            return Ok(());
        }
        self.header(out);
        self.blocks.flush(true, out)?;
        out.extend_from_slice(&self.crc.clone().finalize().to_le_bytes());
        out.extend_from_slice(&(self.size as u32).to_le_bytes());
        self.finished = true;
        Ok(())
    }
}

impl Transform for GzipEncoder {
    type Out = Vec<u8>;

    fn write(&mut self, input: &[u8], out: &mut Vec<u8>) -> Result<usize> {
        self.encode(input, out)?;
        Ok(input.len())
    }

    fn finish(&mut self, out: &mut Vec<u8>) -> Result<bool> {
        self.end(out)?;
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    #[test]
    fn parallel_output_is_one_member_that_others_read() {
        let data: Vec<u8> = (0..3_000_000u32).flat_map(|i| format!("{{\"n\":{}}}\n", i % 977).into_bytes()).collect();
        for threads in [1, 2, 3] {
            for split in [1000, 200_000, data.len()] {
                let mut enc = GzipEncoder::with_threads(6, threads).unwrap();
                let mut out = Vec::new();
                for piece in data.chunks(split) {
                    enc.encode(piece, &mut out).unwrap();
                }
                enc.end(&mut out).unwrap();
                let mut back = Vec::new();
                flate2::read::GzDecoder::new(&out[..]).read_to_end(&mut back).unwrap();
                assert!(back == data, "threads {threads} split {split}");
            }
        }
    }

    #[test]
    fn incompressible_blocks_are_stored_and_still_decode() {
        let mut x: u64 = 7;
        let mut data: Vec<u8> = (0..1_500_000)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x as u8
            })
            .collect();
        data.extend(b"compressible text ".repeat(50_000));
        let mut enc = GzipEncoder::with_threads(6, 2).unwrap();
        let mut out = Vec::new();
        enc.encode(&data, &mut out).unwrap();
        enc.end(&mut out).unwrap();
        assert!(out.len() < 1_500_000 + 1_500_000 / 500 + 100_000);
        let mut back = Vec::new();
        flate2::read::GzDecoder::new(&out[..]).read_to_end(&mut back).unwrap();
        assert!(back == data);
    }
}
