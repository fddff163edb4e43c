use flate2::{Compress, Compression, FlushCompress, Status};

use crate::error::{Error, Result};
use crate::transform::Transform;

/// Writes one standard gzip member: a 10-byte header (mtime 0, as Node writes it), raw
/// deflate, CRC32 and ISIZE.
pub struct GzipEncoder {
    deflate: Compress,
    crc: crc32fast::Hasher,
    size: u64,
    level: u32,
    header_written: bool,
    finished: bool,
}

impl GzipEncoder {
    pub fn new(level: u32) -> Result<Self> {
        if level > 9 {
            return Err(Error::new("E_INVALID_ARGUMENT", format!("gzip level must be 0-9, got {level}")));
        }
        Ok(GzipEncoder {
            deflate: Compress::new(Compression::new(level), false),
            crc: crc32fast::Hasher::new(),
            size: 0,
            level,
            header_written: false,
            finished: false,
        })
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

    /// Compresses all of `input` into `out`.
    pub fn encode(&mut self, input: &[u8], out: &mut Vec<u8>) -> Result<()> {
        self.header(out);
        self.crc.update(input);
        self.size += input.len() as u64;
        let mut rest = input;
        while !rest.is_empty() {
            out.reserve(rest.len() / 2 + 1024);
            let before = self.deflate.total_in();
            self.deflate
                .compress_vec(rest, out, FlushCompress::None)
                .map_err(|e| Error::internal(format!("deflate failed: {e}")))?;
            let used = (self.deflate.total_in() - before) as usize;
            rest = &rest[used..];
        }
        Ok(())
    }

    /// Ends the member: flushes deflate and writes the trailer. Idempotent.
    pub fn end(&mut self, out: &mut Vec<u8>) -> Result<()> {
        if self.finished {
            return Ok(());
        }
        self.header(out);
        loop {
            out.reserve(64 * 1024);
            let status = self
                .deflate
                .compress_vec(&[], out, FlushCompress::Finish)
                .map_err(|e| Error::internal(format!("deflate failed: {e}")))?;
            if status == Status::StreamEnd {
                break;
            }
        }
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
