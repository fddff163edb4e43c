//! The pack pipeline: entries -> tar blocks -> optional gzip. Entries of known size stream
//! straight through; entries of unknown size are staged and written when they end.

use std::path::PathBuf;

use crate::error::{Error, Result};
use crate::gzip::GzipEncoder;
use crate::stage::Stage;
use crate::tar::{end_of_archive, entry_header, padding, Header};
use crate::transform::OUTPUT_CAP;

pub struct PackOptions {
    /// gzip level, or `None` for a plain tar.
    pub gzip: Option<u32>,
    /// Bytes of an unknown-size entry kept in memory before spilling to a temp file.
    pub stage_memory: usize,
    pub stage_dir: Option<PathBuf>,
}

impl Default for PackOptions {
    fn default() -> Self {
        PackOptions { gzip: None, stage_memory: 4 << 20, stage_dir: None }
    }
}

enum State {
    Idle,
    Streaming { name: String, declared: u64, written: u64 },
    Staging { header: Header, stage: Stage },
    Draining { stage: Stage },
    Finalized,
}

pub struct Packer {
    gzip: Option<GzipEncoder>,
    state: State,
    options: PackOptions,
}

fn size_mismatch(name: &str, declared: u64, got: u64) -> Error {
    let got = if got > declared { format!("at least {got}") } else { got.to_string() };
    Error::new("E_SIZE_MISMATCH", format!("Entry {name:?} declared a size of {declared} bytes but its data has {got}"))
}

impl Packer {
    pub fn new(options: PackOptions) -> Result<Self> {
        let gzip = options.gzip.map(GzipEncoder::new).transpose()?;
        Ok(Packer { gzip, state: State::Idle, options })
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
        let mut out = Vec::new();
        if known_size || header.has_no_data() {
            let size = if header.has_no_data() { 0 } else { header.size };
            let blocks = entry_header(&Header { size, ..header.clone() })?;
            self.emit(&blocks, &mut out)?;
            self.state = State::Streaming { name: header.name, declared: size, written: 0 };
        } else {
            entry_header(&header)?;
            let stage = Stage::new(self.options.stage_memory, self.options.stage_dir.clone());
            self.state = State::Staging { header, stage };
        }
        Ok(out)
    }

    pub fn write(&mut self, data: &[u8]) -> Result<Vec<u8>> {
        let mut out = Vec::new();
        match &mut self.state {
            State::Streaming { name, declared, written } => {
                *written += data.len() as u64;
                if *written > *declared {
                    return Err(size_mismatch(name, *declared, *written));
                }
                self.emit(data, &mut out)?;
            }
            State::Staging { stage, .. } => stage.write(data)?,
            _ => return Err(Error::new("E_INVALID_STATE", "No entry is open")),
        }
        Ok(out)
    }

    /// Ends the current entry. A staged entry is written by the following `step` calls.
    pub fn end(&mut self) -> Result<Vec<u8>> {
        let mut out = Vec::new();
        match std::mem::replace(&mut self.state, State::Idle) {
            State::Streaming { name, declared, written } => {
                if written != declared {
                    return Err(size_mismatch(&name, declared, written));
                }
                self.emit(padding(declared), &mut out)?;
            }
            State::Staging { mut header, stage } => {
                header.size = stage.len();
                let blocks = entry_header(&header)?;
                self.emit(&blocks, &mut out)?;
                self.state = State::Draining { stage };
                out.extend(self.step()?);
            }
            _ => return Err(Error::new("E_INVALID_STATE", "No entry is open")),
        }
        Ok(out)
    }

    pub fn has_more(&self) -> bool {
        matches!(self.state, State::Draining { .. })
    }

    /// Writes the next piece of a staged entry.
    pub fn step(&mut self) -> Result<Vec<u8>> {
        let mut out = Vec::new();
        while out.len() < OUTPUT_CAP {
            let State::Draining { stage } = &mut self.state else { break };
            let chunk = stage.read(OUTPUT_CAP)?;
            if chunk.is_empty() {
                let pad = padding(stage.len());
                self.state = State::Idle;
                self.emit(pad, &mut out)?;
                break;
            }
            self.emit(&chunk, &mut out)?;
        }
        Ok(out)
    }

    /// Writes the end-of-archive blocks and ends the gzip member.
    pub fn finalize(&mut self) -> Result<Vec<u8>> {
        if !matches!(self.state, State::Idle) {
            return Err(Error::new("E_INVALID_STATE", "finalize() while an entry is open"));
        }
        let mut out = Vec::new();
        self.emit(end_of_archive(), &mut out)?;
        if let Some(gzip) = &mut self.gzip {
            gzip.end(&mut out)?;
        }
        self.state = State::Finalized;
        Ok(out)
    }
}
