//! One standard gzip member, compressed in parallel the way pigz does it: the input is cut
//! into blocks, each block is deflated on its own thread primed with the previous 32 KiB as
//! dictionary and ended with a sync flush (byte-aligned), so the raw outputs concatenate into
//! one valid deflate stream. The CRC32 is computed once over the input as it arrives.

use flate2::{Compress, Compression, FlushCompress, Status};

use crate::error::{Error, Result};
use crate::transform::Transform;

const BLOCK: usize = 128 * 1024;
const DICTIONARY: usize = 32 * 1024;
/// Blocks gathered per thread before a parallel round.
const BLOCKS_PER_THREAD: usize = 4;

/// Raw deflate compressed in parallel blocks, each ended by a sync flush (the last one, when
/// asked, by the final block), so outputs concatenate into one deflate stream.
pub struct DeflateBlocks {
    threads: usize,
    /// Input not compressed yet.
    pending: Vec<u8>,
    /// The last 32 KiB already compressed: the dictionary of the next block.
    dictionary: Vec<u8>,
    /// One compressor per thread, reset between blocks.
    compressors: Vec<Compress>,
}

pub struct GzipEncoder {
    level: u32,
    blocks: DeflateBlocks,
    crc: crc32fast::Hasher,
    size: u64,
    header_written: bool,
    finished: bool,
}

fn threads() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get()).clamp(1, 8)
}

/// Compression threads run at a lower priority than the JS thread, so with every core busy
/// compressing, the event loop still gets the CPU the moment it needs it.
fn lower_priority() {
    #[cfg(target_os = "linux")]
    unsafe {
        // SAFETY: plain syscalls on the calling thread; failure only leaves the priority as it was.
        let tid = libc::syscall(libc::SYS_gettid) as libc::id_t;
        libc::setpriority(libc::PRIO_PROCESS, tid, 10);
    }
}

fn deflate_error(e: impl std::fmt::Display) -> Error {
    Error::internal(format!("deflate failed: {e}"))
}

/// `true` when a sample of the block barely compresses (JPEG, PNG, PDF streams, ciphertext):
/// such blocks are stored, which is as small and many times faster than deflating them.
fn incompressible(c: &mut Compress, block: &[u8]) -> bool {
    const SAMPLE: usize = 8 * 1024;
    if block.len() < 4 * SAMPLE {
        return false;
    }
    let mut scratch = Vec::with_capacity(SAMPLE + 1024);
    let mut total = 0;
    for (i, start) in [0, block.len() / 2, block.len() - SAMPLE].into_iter().enumerate() {
        c.reset();
        scratch.clear();
        if c.compress_vec(&block[start..start + SAMPLE], &mut scratch, FlushCompress::Finish).is_err() {
            return false;
        }
        total += scratch.len();
        // Text and ciphertext are told apart by the first sample; only a mixed block needs three.
        if i == 0 && (scratch.len() * 100 < SAMPLE * 80 || scratch.len() >= SAMPLE) {
            return scratch.len() >= SAMPLE;
        }
    }
    total * 100 > 3 * SAMPLE * 97
}

/// Writes `block` as stored deflate blocks (the stream is byte-aligned here).
fn store_block(block: &[u8], last: bool, out: &mut Vec<u8>) {
    let pieces: Vec<&[u8]> = block.chunks(65535).collect();
    for (i, piece) in pieces.iter().enumerate() {
        let final_piece = last && i == pieces.len() - 1;
        out.push(final_piece as u8);
        out.extend_from_slice(&(piece.len() as u16).to_le_bytes());
        out.extend_from_slice(&(!(piece.len() as u16)).to_le_bytes());
        out.extend_from_slice(piece);
    }
}

/// Deflates one block, primed with `dictionary`, ending with a sync flush or, for the last
/// block of the stream, the final block. Incompressible blocks are stored.
fn deflate_block(c: &mut Compress, dictionary: &[u8], block: &[u8], last: bool, out: &mut Vec<u8>) -> Result<()> {
    if incompressible(c, block) {
        store_block(block, last, out);
        return Ok(());
    }
    c.reset();
    if !dictionary.is_empty() {
        c.set_dictionary(dictionary).map_err(deflate_error)?;
    }
    let flush = if last { FlushCompress::Finish } else { FlushCompress::Sync };
    let start = c.total_in();
    loop {
        out.reserve(block.len() / 2 + 1024);
        let consumed = (c.total_in() - start) as usize;
        let status = c.compress_vec(&block[consumed..], out, flush).map_err(deflate_error)?;
        let done_input = (c.total_in() - start) as usize == block.len();
        if last && status == Status::StreamEnd {
            return Ok(());
        }
        if !last && done_input && out.len() < out.capacity() {
            return Ok(());
        }
    }
}

impl DeflateBlocks {
    pub fn new(level: u32, threads: usize) -> Self {
        let threads = threads.max(1);
        DeflateBlocks {
            threads,
            pending: Vec::new(),
            dictionary: Vec::new(),
            compressors: (0..threads).map(|_| Compress::new(Compression::new(level), false)).collect(),
        }
    }

    /// Starts a stream that may refer back only to `dictionary` (at most the last 32 KiB of
    /// what precedes it once decompressed); nothing may be pending.
    pub fn restart(&mut self, dictionary: &[u8]) {
        debug_assert!(self.pending.is_empty());
        self.dictionary.clear();
        self.dictionary.extend_from_slice(&dictionary[dictionary.len().saturating_sub(DICTIONARY)..]);
    }

    /// Compresses `data` (whole blocks, the last one possibly short when flushing) in parallel.
    fn compress(&mut self, data: &[u8], finish: bool, out: &mut Vec<u8>) -> Result<()> {
        let blocks: Vec<&[u8]> = data.chunks(BLOCK).collect();
        let count = blocks.len();
        let dictionaries: Vec<&[u8]> = (0..count)
            .map(|i| if i == 0 { &self.dictionary[..] } else { &blocks[i - 1][blocks[i - 1].len().saturating_sub(DICTIONARY)..] })
            .collect();
        let per_thread = count.div_ceil(self.threads).max(1);
        let mut outputs: Vec<Vec<u8>> = vec![Vec::new(); count];
        let work = |c: &mut Compress, first: usize, outs: &mut [Vec<u8>]| -> Result<()> {
            for (j, o) in outs.iter_mut().enumerate() {
                let i = first + j;
                deflate_block(c, dictionaries[i], blocks[i], finish && i == count - 1, o)?;
            }
            Ok(())
        };
        if count <= 1 || self.threads == 1 {
            work(&mut self.compressors[0], 0, &mut outputs)?;
        } else {
            let results: Vec<Result<()>> = std::thread::scope(|scope| {
                let handles: Vec<_> = self
                    .compressors
                    .iter_mut()
                    .zip(outputs.chunks_mut(per_thread))
                    .enumerate()
                    .map(|(t, (c, outs))| {
                        let work = &work;
                        scope.spawn(move || {
                            lower_priority();
                            work(c, t * per_thread, outs)
                        })
                    })
                    .collect();
                handles.into_iter().map(|h| h.join().unwrap_or_else(|_| Err(Error::internal("deflate thread panicked")))).collect()
            });
            results.into_iter().collect::<Result<Vec<()>>>()?;
        }
        for o in outputs {
            out.extend_from_slice(&o);
        }
        if count == 0 && finish {
            deflate_block(&mut self.compressors[0], &[], &[], true, out)?;
        }
        let tail = data.len().saturating_sub(DICTIONARY);
        if data.len() >= DICTIONARY {
            self.dictionary = data[tail..].to_vec();
        } else {
            self.dictionary.extend_from_slice(data);
            let cut = self.dictionary.len().saturating_sub(DICTIONARY);
            self.dictionary.drain(..cut);
        }
        Ok(())
    }

    /// Takes all of `input`; compresses once enough whole blocks have gathered.
    pub fn write(&mut self, input: &[u8], out: &mut Vec<u8>) -> Result<()> {
        self.pending.extend_from_slice(input);
        let batch = self.threads * BLOCKS_PER_THREAD * BLOCK;
        if self.pending.len() >= batch {
            let whole = self.pending.len() / BLOCK * BLOCK;
            let mut data = std::mem::take(&mut self.pending);
            self.compress(&data[..whole], false, out)?;
            data.drain(..whole);
            self.pending = data;
        }
        Ok(())
    }

    /// Compresses everything pending. `last` ends the deflate stream; otherwise the output
    /// ends on a byte boundary (sync flush), ready for more blocks or for spliced ones.
    pub fn flush(&mut self, last: bool, out: &mut Vec<u8>) -> Result<()> {
        let data = std::mem::take(&mut self.pending);
        self.compress(&data, last, out)
    }
}

impl GzipEncoder {
    pub fn new(level: u32) -> Result<Self> {
        Self::with_threads(level, threads())
    }

    pub fn with_threads(level: u32, threads: usize) -> Result<Self> {
        if level > 9 {
            return Err(Error::new("E_INVALID_ARGUMENT", format!("gzip level must be 0-9, got {level}")));
        }
        Ok(GzipEncoder {
            level,
            blocks: DeflateBlocks::new(level, threads),
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
        self.blocks.threads
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
