//! The extract pipeline: optional gunzip (detected by magic), tar parsing, policy.

use crate::error::{Error, Result};
use crate::gzip::{GzipDecoder, MAGIC};
use crate::policy::{Limits, Mode, Policy};
use crate::tar::{Event, TarReader};
use crate::transform::{Output, Transform, OUTPUT_CAP};

impl Output for Vec<Event> {
    fn weight(&self) -> usize {
        self.iter().map(|e| if let Event::Data(d) = e { d.len() } else { 512 }).sum()
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum GzipMode {
    Auto,
    Always,
    Never,
}

pub struct Extractor {
    mode: GzipMode,
    /// First bytes held back until the gzip magic can be told apart.
    sniff: Vec<u8>,
    gunzip: Option<GzipDecoder>,
    decided: bool,
    plain: Vec<u8>,
    tar: TarReader,
    policy: Policy,
}

impl Extractor {
    pub fn new(mode: GzipMode, policy: Mode, limits: Limits) -> Self {
        Extractor {
            mode,
            sniff: Vec::new(),
            gunzip: None,
            decided: false,
            plain: Vec::new(),
            tar: TarReader::new(limits.max_meta),
            policy: Policy::new(policy, limits),
        }
    }

    /// The policy's switches (links, app names, case folding), to set before the first write.
    pub fn policy(&mut self) -> &mut Policy {
        &mut self.policy
    }

    fn decide(&mut self) {
        let gzip = match self.mode {
            GzipMode::Always => true,
            GzipMode::Never => false,
            GzipMode::Auto => self.sniff.starts_with(&MAGIC),
        };
        if gzip {
            self.gunzip = Some(GzipDecoder::new());
        }
        self.decided = true;
    }

    /// Feeds tar bytes to the parser and what it reports through the policy. The parser
    /// appends to `out` directly (extending a trailing data event), so only the bytes and
    /// events added here are counted. Events the parser reported before a framing error are
    /// checked first: the earliest fault wins, wherever the input was cut.
    fn parse(&mut self, tar_bytes: &[u8], out: &mut Vec<Event>) -> Result<()> {
        let (start, mut already) = match out.last() {
            Some(Event::Data(d)) => (out.len() - 1, d.len()),
            _ => (out.len(), 0),
        };
        let framing = self.tar.write(tar_bytes, out);
        for event in &out[start..] {
            match event {
                Event::Header(h) => self.policy.check_header(h)?,
                Event::Data(d) => self.policy.check_data((d.len() - already) as u64)?,
                _ => {}
            }
            already = 0;
        }
        framing
    }

    fn feed(&mut self, input: &[u8], out: &mut Vec<Event>) -> Result<usize> {
        match self.gunzip.as_mut() {
            None => {
                self.parse(input, out)?;
                Ok(input.len())
            }
            Some(gunzip) => {
                let mut plain = std::mem::take(&mut self.plain);
                plain.clear();
                let used = gunzip.write(input, &mut plain)?;
                let result = self.parse(&plain, out);
                self.plain = plain;
                result.map(|_| used)
            }
        }
    }
}

impl Transform for Extractor {
    type Out = Vec<Event>;

    fn write(&mut self, input: &[u8], out: &mut Vec<Event>) -> Result<usize> {
        if !self.decided {
            let n = (2 - self.sniff.len()).min(input.len());
            self.sniff.extend_from_slice(&input[..n]);
            if self.sniff.len() < 2 {
                return Ok(n);
            }
            self.decide();
            let sniffed = std::mem::take(&mut self.sniff);
            let mut pos = 0;
            while pos < sniffed.len() {
                pos += self.feed(&sniffed[pos..], out)?;
            }
            return Ok(n);
        }
        let mut pos = 0;
        while pos < input.len() && out.weight() < OUTPUT_CAP {
            pos += self.feed(&input[pos..], out)?;
        }
        Ok(pos)
    }

    fn finish(&mut self, out: &mut Vec<Event>) -> Result<bool> {
        if !self.decided {
            if self.sniff.is_empty() {
                return Err(Error::new("E_EMPTY_INPUT", "Input is empty").at(0));
            }
            self.decide();
            let sniffed = std::mem::take(&mut self.sniff);
            self.feed(&sniffed, out)?;
        }
        if let Some(gunzip) = self.gunzip.as_mut() {
            gunzip.finish(&mut Vec::new())?;
        }
        self.tar.finish()?;
        Ok(true)
    }
}
