//! Bounded staging for entries whose size is known only at their end: bytes stay in memory
//! up to a limit, then move to an anonymous temp file (unlinked from the start, so it goes
//! away on completion, error, abort and crash alike).

use std::fs::File;
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::PathBuf;

use crate::error::{Error, Result};

pub struct Stage {
    memory: Vec<u8>,
    file: Option<File>,
    len: u64,
    read_pos: u64,
    limit: usize,
    dir: Option<PathBuf>,
}

impl Stage {
    pub fn new(limit: usize, dir: Option<PathBuf>) -> Self {
        Stage { memory: Vec::new(), file: None, len: 0, read_pos: 0, limit, dir }
    }

    pub fn len(&self) -> u64 {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// `true` once the bytes went to a temp file.
    pub fn spilled(&self) -> bool {
        self.file.is_some()
    }

    pub fn write(&mut self, data: &[u8]) -> Result<()> {
        if self.file.is_none() && self.memory.len() + data.len() > self.limit {
            let dir = self.dir.clone().unwrap_or_else(std::env::temp_dir);
            let mut file = tempfile::tempfile_in(&dir).map_err(|e| Error::io("Cannot create a staging file", e))?;
            file.write_all(&self.memory).map_err(|e| Error::io("Cannot write the staging file", e))?;
            self.memory = Vec::new();
            self.file = Some(file);
        }
        match &mut self.file {
            Some(file) => file.write_all(data).map_err(|e| Error::io("Cannot write the staging file", e))?,
            None => self.memory.extend_from_slice(data),
        }
        self.len += data.len() as u64;
        Ok(())
    }

    /// Reads the next staged bytes, at most `max`; empty once everything was read.
    pub fn read(&mut self, max: usize) -> Result<Vec<u8>> {
        let n = (self.len - self.read_pos).min(max as u64) as usize;
        let chunk = match &mut self.file {
            None => self.memory[self.read_pos as usize..self.read_pos as usize + n].to_vec(),
            Some(file) => {
                if self.read_pos == 0 {
                    file.seek(SeekFrom::Start(0)).map_err(|e| Error::io("Cannot read the staging file", e))?;
                }
                let mut chunk = vec![0; n];
                file.read_exact(&mut chunk).map_err(|e| Error::io("Cannot read the staging file", e))?;
                chunk
            }
        };
        self.read_pos += n as u64;
        Ok(chunk)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spills_past_the_limit_and_reads_back() {
        let mut stage = Stage::new(10, None);
        stage.write(b"hello").unwrap();
        assert!(!stage.spilled());
        stage.write(b" staged world").unwrap();
        assert!(stage.spilled());
        let mut all = Vec::new();
        loop {
            let chunk = stage.read(4).unwrap();
            if chunk.is_empty() {
                break;
            }
            all.extend(chunk);
        }
        assert_eq!(all, b"hello staged world");
    }
}
