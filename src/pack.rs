//! The pack pipeline: entries -> tar blocks -> optional gzip. Entries of known size stream
//! straight through; entries of unknown size are staged and written when they end.

use std::path::PathBuf;

use crate::envelope::Encryptor;
use crate::error::{Error, Result};
use crate::gzip::{DeflateBlocks, GzipEncoder};
use crate::stage::{DeflatedStage, Stage};
use crate::tar::{end_of_archive, entry_header, padding, Header};
use crate::transform::OUTPUT_CAP;

pub struct PackOptions {
    /// gzip level, or `None` for a plain tar.
    pub gzip: Option<u32>,
    /// Bytes of an unknown-size entry kept in memory before spilling to a temp file.
    pub stage_memory: usize,
    pub stage_dir: Option<PathBuf>,
    /// A whole-archive envelope (FORMAT.md): AES-CTR under this password around the gzip
    /// output, in the same calls that produce it. Needs `gzip`.
    pub password: Option<String>,
}

impl Default for PackOptions {
    fn default() -> Self {
        PackOptions { gzip: None, stage_memory: 4 << 20, stage_dir: None, password: None }
    }
}

/// An entry of unknown size while it is staged: deflated already for a gzip pack, else as is.
enum Staged {
    Plain(Stage),
    Deflated(DeflatedStage),
}

impl Staged {
    fn len(&self) -> u64 {
        match self {
            Staged::Plain(s) => s.len(),
            Staged::Deflated(s) => s.len(),
        }
    }

    fn write(&mut self, data: &[u8]) -> Result<()> {
        match self {
            Staged::Plain(s) => s.write(data),
            Staged::Deflated(s) => s.write(data),
        }
    }
}

enum State {
    Idle,
    Streaming { name: String, declared: u64, written: u64 },
    Staging { header: Header, stage: Staged },
    Draining { stage: Staged },
    Finalized,
}

pub struct Packer {
    gzip: Option<GzipEncoder>,
    /// Compressors for staged entries, kept between entries (a gzip pack only).
    staging_blocks: Option<DeflateBlocks>,
    envelope: Option<Encryptor>,
    state: State,
    options: PackOptions,
}

/// Room for the output of writing `input` bytes: a little more than the input, for stored
/// deflate blocks (5 bytes per 64 KiB), the sync flush ending each parallel block and a tar
/// header. Compressible input gives less, and `pool::fit` copies a small output out.
fn output_room(input: usize) -> usize {
    input + input / 1024 + 1024
}

fn size_mismatch(name: &str, declared: u64, got: u64) -> Error {
    let got = if got > declared { format!("at least {got}") } else { got.to_string() };
    Error::new("E_SIZE_MISMATCH", format!("Entry {name:?} declared a size of {declared} bytes but its data has {got}"))
}

impl Packer {
    pub fn new(options: PackOptions) -> Result<Self> {
        let gzip = options.gzip.map(GzipEncoder::new).transpose()?;
        let envelope = match (&options.password, &gzip) {
            (None, _) => None,
            (Some(password), Some(_)) => Some(Encryptor::around_gzip(password)?),
            (Some(_), None) => return Err(Error::new("E_INVALID_ARGUMENT", "a whole-archive envelope needs gzip")),
        };
        Ok(Packer { gzip, staging_blocks: None, envelope, state: State::Idle, options })
    }

    /// A call's output as it is handed out: sealed when the archive is encrypted, and a small
    /// output copied out of the large pooled buffer it was written into.
    fn hand_out(&mut self, mut out: Vec<u8>) -> Vec<u8> {
        if let Some(envelope) = &mut self.envelope {
            envelope.seal_in_place(&mut out);
        }
        crate::pool::fit(out)
    }

    fn emit(&mut self, bytes: &[u8], out: &mut Vec<u8>) -> Result<()> {
        match &mut self.gzip {
            Some(gzip) => gzip.encode(bytes, out),
            None => {
                out.extend_from_slice(bytes);
                Ok(())
            }
        }
    }

    /// Starts an entry. `size: None` in `known_size` means the size is learnt at `end`.
    pub fn begin(&mut self, header: Header, known_size: bool) -> Result<Vec<u8>> {
        if !matches!(self.state, State::Idle) {
            return Err(Error::new("E_INVALID_STATE", "An entry is already open"));
        }
        let mut out = crate::pool::take(OUTPUT_CAP);
        if known_size || header.has_no_data() {
            let size = if header.has_no_data() { 0 } else { header.size };
            let blocks = entry_header(&Header { size, ..header.clone() })?;
            self.emit(&blocks, &mut out)?;
            self.state = State::Streaming { name: header.name, declared: size, written: 0 };
        } else {
            entry_header(&header)?;
            let (memory, dir) = (self.options.stage_memory, self.options.stage_dir.clone());
            let stage = match &self.gzip {
                Some(gzip) => {
                    let blocks = match self.staging_blocks.take() {
                        Some(blocks) => blocks,
                        None => DeflateBlocks::new(gzip.level(), gzip.threads())?,
                    };
                    Staged::Deflated(DeflatedStage::new(blocks, memory, dir))
                }
                None => Staged::Plain(Stage::new(memory, dir)),
            };
            self.state = State::Staging { header, stage };
        }
        Ok(self.hand_out(out))
    }

    pub fn write(&mut self, data: &[u8]) -> Result<Vec<u8>> {
        self.write_pieces(&[data])
    }

    /// Writes the next bytes of the current entry, given in pieces (a stream's chunks, which
    /// JS gathers without concatenating them), into one output sized for all of them: a
    /// streamed entry's output then comes in buffers the pool keeps and serves again, instead
    /// of a pooled buffer filled a quarter and copied out of.
    pub fn write_pieces<B: AsRef<[u8]>>(&mut self, pieces: &[B]) -> Result<Vec<u8>> {
        let total: usize = pieces.iter().map(|piece| piece.as_ref().len()).sum();
        let mut out = crate::pool::take(output_room(total));
        match &mut self.state {
            State::Streaming { name, declared, written } => {
                *written += total as u64;
                if *written > *declared {
                    return Err(size_mismatch(name, *declared, *written));
                }
                for piece in pieces {
                    self.emit(piece.as_ref(), &mut out)?;
                }
            }
            State::Staging { stage, .. } => {
                for piece in pieces {
                    stage.write(piece.as_ref())?;
                }
            }
            _ => return Err(Error::new("E_INVALID_STATE", "No entry is open")),
        }
        Ok(self.hand_out(out))
    }

    /// Ends the current entry. A staged entry is written by the following `step` calls.
    pub fn end(&mut self) -> Result<Vec<u8>> {
        let mut out = crate::pool::take(OUTPUT_CAP);
        match std::mem::replace(&mut self.state, State::Idle) {
            State::Streaming { name, declared, written } => {
                if written != declared {
                    return Err(size_mismatch(&name, declared, written));
                }
                self.emit(padding(declared), &mut out)?;
            }
            State::Staging { mut header, mut stage } => {
                header.size = stage.len();
                let blocks = entry_header(&header)?;
                self.emit(&blocks, &mut out)?;
                if let (Staged::Deflated(deflated), Some(gzip)) = (&mut stage, &mut self.gzip) {
                    deflated.finish()?;
                    gzip.splice_begin(&mut out)?;
                }
                self.state = State::Draining { stage };
                crate::pool::append(&mut out, self.drain()?);
            }
            _ => return Err(Error::new("E_INVALID_STATE", "No entry is open")),
        }
        Ok(self.hand_out(out))
    }

    pub fn has_more(&self) -> bool {
        matches!(self.state, State::Draining { .. })
    }

    /// Writes the next piece of a staged entry (see `drain`).
    pub fn step(&mut self) -> Result<Vec<u8>> {
        let out = self.drain()?;
        Ok(self.hand_out(out))
    }

    /// The next piece of a staged entry: for a gzip pack, its deflate blocks as they are
    /// (spliced), else its bytes through `emit`.
    fn drain(&mut self) -> Result<Vec<u8>> {
        let mut out = Vec::new();
        while out.len() < OUTPUT_CAP {
            let State::Draining { stage } = &mut self.state else { break };
            let chunk = match stage {
                Staged::Plain(plain) => plain.read(OUTPUT_CAP)?,
                Staged::Deflated(deflated) => deflated.read(OUTPUT_CAP)?,
            };
            if !chunk.is_empty() {
                match stage {
                    // Already final bytes: the first piece becomes the output as it is.
                    Staged::Deflated(_) if out.is_empty() => out = chunk,
                    Staged::Deflated(_) => crate::pool::append(&mut out, chunk),
                    Staged::Plain(_) => {
                        if out.capacity() == 0 {
                            out = crate::pool::take(output_room(OUTPUT_CAP));
                        }
                        self.emit(&chunk, &mut out)?;
                        crate::pool::give(chunk);
                    }
                }
                continue;
            }
            let State::Draining { stage } = std::mem::replace(&mut self.state, State::Idle) else { unreachable!() };
            let pad = padding(stage.len());
            if let (Staged::Deflated(deflated), Some(gzip)) = (stage, &mut self.gzip) {
                gzip.splice_end(deflated.crc(), deflated.len(), deflated.tail());
                self.staging_blocks = Some(deflated.into_blocks());
            }
            self.emit(pad, &mut out)?;
            break;
        }
        Ok(out)
    }

    /// Writes the end-of-archive blocks and ends the gzip member.
    pub fn finalize(&mut self) -> Result<Vec<u8>> {
        if !matches!(self.state, State::Idle) {
            return Err(Error::new("E_INVALID_STATE", "finalize() while an entry is open"));
        }
        let mut out = crate::pool::take(OUTPUT_CAP);
        self.emit(end_of_archive(), &mut out)?;
        if let Some(gzip) = &mut self.gzip {
            gzip.end(&mut out)?;
        }
        self.state = State::Finalized;
        Ok(self.hand_out(out))
    }
}
