//! Bounded staging for entries whose size is known only at their end: bytes stay in memory
//! up to a limit, then move to an anonymous temp file (unlinked from the start, so it goes
//! away on completion, error, abort and crash alike). What goes to disk is deflated at level 1
//! first: a staged database dump takes a fraction of its size on disk.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::PathBuf;

use flate2::{Compress, Compression, Decompress, FlushCompress, FlushDecompress};

use crate::error::{Error, Result};
use crate::gzip::DeflateBlocks;

const READ_CHUNK: usize = 256 * 1024;

struct Spill {
    file: File,
    deflate: Compress,
    inflate: Decompress,
    /// Compressed bytes read from the file and not yet inflated.
    input: Vec<u8>,
    input_pos: usize,
    scratch: Vec<u8>,
}

/// Level 1 for bytes that compress, stored blocks for those that do not (an encrypted entry,
/// say), judged on a sample of the first bytes.
fn level_for(sample: &[u8]) -> Compression {
    let sample = &sample[..sample.len().min(64 * 1024)];
    if sample.len() < 4096 {
        return Compression::new(1);
    }
    let mut probe = Compress::new(Compression::new(1), false);
    let mut out = Vec::with_capacity(sample.len() + 1024);
    if probe.compress_vec(sample, &mut out, FlushCompress::Finish).is_err() || out.len() * 10 > sample.len() * 9 {
        Compression::none()
    } else {
        Compression::new(1)
    }
}

pub struct Stage {
    memory: Vec<u8>,
    spill: Option<Spill>,
    len: u64,
    read_pos: u64,
    limit: usize,
    dir: Option<PathBuf>,
}

fn io(context: &str) -> impl Fn(std::io::Error) -> Error + '_ {
    move |e| Error::io(context, e)
}

impl Stage {
    pub fn new(limit: usize, dir: Option<PathBuf>) -> Self {
        Stage { memory: Vec::new(), spill: None, len: 0, read_pos: 0, limit, dir }
    }

    pub fn len(&self) -> u64 {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// `true` once the bytes went to a temp file.
    pub fn spilled(&self) -> bool {
        self.spill.is_some()
    }

    pub fn write(&mut self, data: &[u8]) -> Result<()> {
        if self.spill.is_none() && self.memory.len() + data.len() > self.limit {
            let dir = self.dir.clone().unwrap_or_else(std::env::temp_dir);
            let file = tempfile::tempfile_in(&dir).map_err(io("Cannot create a staging file"))?;
            let mut sample = self.memory[..self.memory.len().min(64 * 1024)].to_vec();
            sample.extend_from_slice(&data[..data.len().min(64 * 1024 - sample.len())]);
            self.spill = Some(Spill {
                file,
                deflate: Compress::new(level_for(&sample), false),
                inflate: Decompress::new(false),
                input: Vec::new(),
                input_pos: 0,
                scratch: Vec::new(),
            });
            let memory = std::mem::take(&mut self.memory);
            self.spill_write(&memory, FlushCompress::None)?;
        }
        if self.spill.is_some() {
            self.spill_write(data, FlushCompress::None)?;
        } else {
            self.memory.extend_from_slice(data);
        }
        self.len += data.len() as u64;
        Ok(())
    }

    fn spill_write(&mut self, data: &[u8], flush: FlushCompress) -> Result<()> {
        let spill = self.spill.as_mut().expect("spilled");
        let mut rest = data;
        loop {
            spill.scratch.clear();
            spill.scratch.reserve(rest.len() / 2 + 64 * 1024);
            let before = spill.deflate.total_in();
            let status = spill
                .deflate
                .compress_vec(rest, &mut spill.scratch, flush)
                .map_err(|e| Error::internal(format!("staging deflate failed: {e}")))?;
            rest = &rest[(spill.deflate.total_in() - before) as usize..];
            spill.file.write_all(&spill.scratch).map_err(io("Cannot write the staging file"))?;
            let finished = matches!(flush, FlushCompress::Finish) && status == flate2::Status::StreamEnd;
            if rest.is_empty() && (!matches!(flush, FlushCompress::Finish) || finished) {
                return Ok(());
            }
        }
    }

    /// Reads the next staged bytes, at most `max`; empty once everything was read.
    pub fn read(&mut self, max: usize) -> Result<Vec<u8>> {
        let n = (self.len - self.read_pos).min(max as u64) as usize;
        if n == 0 {
            return Ok(Vec::new());
        }
        if self.spill.is_none() {
            let start = self.read_pos as usize;
            self.read_pos += n as u64;
            let mut out = crate::pool::take(n);
            out.extend_from_slice(&self.memory[start..start + n]);
            return Ok(out);
        }
        if self.read_pos == 0 {
            self.spill_write(&[], FlushCompress::Finish)?;
            let spill = self.spill.as_mut().unwrap();
            spill.file.seek(SeekFrom::Start(0)).map_err(io("Cannot read the staging file"))?;
        }
        let spill = self.spill.as_mut().unwrap();
        // Inflated straight into the output (a pooled buffer, already resident).
        let mut out = crate::pool::take(n);
        out.resize(n, 0);
        let mut filled = 0;
        while filled < n {
            if spill.input_pos == spill.input.len() {
                spill.input.resize(READ_CHUNK, 0);
                let got = spill.file.read(&mut spill.input).map_err(io("Cannot read the staging file"))?;
                spill.input.truncate(got);
                spill.input_pos = 0;
                if got == 0 {
                    return Err(Error::internal("staging file ended early"));
                }
            }
            let (read_before, written_before) = (spill.inflate.total_in(), spill.inflate.total_out());
            let status = spill
                .inflate
                .decompress(&spill.input[spill.input_pos..], &mut out[filled..], FlushDecompress::None)
                .map_err(|e| Error::internal(format!("staging inflate failed: {e}")))?;
            spill.input_pos += (spill.inflate.total_in() - read_before) as usize;
            filled += (spill.inflate.total_out() - written_before) as usize;
            if status == flate2::Status::StreamEnd && filled < n {
                return Err(Error::internal("staging file holds fewer bytes than were staged"));
            }
        }
        self.read_pos += n as u64;
        Ok(out)
    }
}

/// Bytes kept in order: in memory up to a limit, then in an anonymous temp file; read back
/// once, from the start.
struct Spool {
    memory: Vec<u8>,
    file: Option<File>,
    limit: usize,
    dir: Option<PathBuf>,
    len: u64,
    read_pos: u64,
}

impl Spool {
    fn new(limit: usize, dir: Option<PathBuf>) -> Self {
        Spool { memory: Vec::new(), file: None, limit, dir, len: 0, read_pos: 0 }
    }

    fn write(&mut self, data: &[u8]) -> Result<()> {
        if self.file.is_none() && self.memory.len() + data.len() > self.limit {
            let dir = self.dir.clone().unwrap_or_else(std::env::temp_dir);
            let mut file = tempfile::tempfile_in(&dir).map_err(io("Cannot create a staging file"))?;
            file.write_all(&self.memory).map_err(io("Cannot write the staging file"))?;
            self.memory = Vec::new();
            self.file = Some(file);
        }
        match &mut self.file {
            Some(file) => file.write_all(data).map_err(io("Cannot write the staging file"))?,
            None => self.memory.extend_from_slice(data),
        }
        self.len += data.len() as u64;
        Ok(())
    }

    /// The next bytes, at most `max`; empty once everything was read.
    fn read(&mut self, max: usize) -> Result<Vec<u8>> {
        let n = (self.len - self.read_pos).min(max as u64) as usize;
        if n == 0 {
            return Ok(Vec::new());
        }
        let start = self.read_pos;
        self.read_pos += n as u64;
        // Read into a pooled buffer: a fresh MiB per step costs more in page faults than the read.
        let mut out = crate::pool::take(n);
        let Some(file) = &mut self.file else {
            out.extend_from_slice(&self.memory[start as usize..start as usize + n]);
            return Ok(out);
        };
        if start == 0 {
            file.seek(SeekFrom::Start(0)).map_err(io("Cannot read the staging file"))?;
        }
        // Into the spare room as it is: no zeroing of what the read overwrites.
        file.take(n as u64).read_to_end(&mut out).map_err(io("Cannot read the staging file"))?;
        if out.len() < n {
            return Err(Error::internal("staging file ended early"));
        }
        Ok(out)
    }
}

/// Staging for a gzip pack: the entry is deflated as it arrives, at the pack's level and in
/// parallel, into sync-flushed blocks that refer only to the entry's own bytes. The pack
/// splices them into its stream after the entry's header, so a staged entry is compressed
/// once, like any other.
pub struct DeflatedStage {
    blocks: DeflateBlocks,
    spool: Spool,
    crc: crc32fast::Hasher,
    len: u64,
    /// The entry's last bytes (up to 32 KiB, kept in a buffer of up to 64 KiB).
    tail: Vec<u8>,
    scratch: Vec<u8>,
}

impl DeflatedStage {
    /// `blocks` must have nothing pending; they are lent for the entry and handed back by
    /// `into_blocks`.
    pub fn new(mut blocks: DeflateBlocks, limit: usize, dir: Option<PathBuf>) -> Self {
        blocks.restart(&[]);
        DeflatedStage {
            blocks,
            spool: Spool::new(limit, dir),
            crc: crc32fast::Hasher::new(),
            len: 0,
            tail: Vec::new(),
            scratch: Vec::new(),
        }
    }

    /// Uncompressed bytes staged so far.
    pub fn len(&self) -> u64 {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub fn write(&mut self, data: &[u8]) -> Result<()> {
        self.crc.update(data);
        self.len += data.len() as u64;
        self.tail.extend_from_slice(&data[data.len().saturating_sub(32 * 1024)..]);
        if self.tail.len() > 64 * 1024 {
            self.tail.drain(..self.tail.len() - 32 * 1024);
        }
        self.scratch.clear();
        self.blocks.write(data, &mut self.scratch)?;
        self.spool.write(&self.scratch)
    }

    /// Compresses what is pending; call once, after the last `write`.
    pub fn finish(&mut self) -> Result<()> {
        self.scratch.clear();
        self.blocks.flush(false, &mut self.scratch)?;
        self.spool.write(&self.scratch)
    }

    /// The next compressed bytes, at most `max`; empty once everything was read.
    pub fn read(&mut self, max: usize) -> Result<Vec<u8>> {
        self.spool.read(max)
    }

    pub fn crc(&self) -> &crc32fast::Hasher {
        &self.crc
    }

    pub fn tail(&self) -> &[u8] {
        &self.tail
    }

    pub fn into_blocks(self) -> DeflateBlocks {
        self.blocks
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spills_past_the_limit_compressed_and_reads_back() {
        let mut stage = Stage::new(10, None);
        stage.write(b"hello").unwrap();
        assert!(!stage.spilled());
        stage.write(b" staged world").unwrap();
        let lots = b"0123456789".repeat(100_000);
        stage.write(&lots).unwrap();
        assert!(stage.spilled());
        let on_disk = stage.spill.as_ref().unwrap().file.metadata().unwrap().len();
        assert!(on_disk < lots.len() as u64 / 10, "{on_disk} bytes on disk");
        let mut all = Vec::new();
        loop {
            let chunk = stage.read(4096).unwrap();
            if chunk.is_empty() {
                break;
            }
            all.extend(chunk);
        }
        let mut expected = b"hello staged world".to_vec();
        expected.extend_from_slice(&lots);
        assert_eq!(all, expected);
    }

    #[test]
    fn incompressible_bytes_are_stored() {
        let mut stage = Stage::new(1000, None);
        let mut x: u64 = 1;
        let noise: Vec<u8> = (0..3_000_000)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x as u8
            })
            .collect();
        stage.write(&noise).unwrap();
        let mut all = Vec::new();
        loop {
            let chunk = stage.read(1 << 20).unwrap();
            if chunk.is_empty() {
                break;
            }
            all.extend(chunk);
        }
        assert!(all == noise);
    }
}
