//! The extract pipeline: optional gunzip (detected by magic), tar parsing, policy.

use crate::error::{Error, Result};
use crate::gzip::{GzipDecoder, MAGIC};
use crate::policy::{Limits, Mode, Policy};
use crate::tar::{Event, TarReader};
use crate::transform::{Output, Transform, OUTPUT_CAP};

/// Events in one step at most (the parser stops there, past it by a block's events at most):
/// JS settles each small entry's events in turn, so a step of many small entries is bounded by
/// their number, not by their bytes (an app's 2000 small files).
pub const MAX_EVENTS: usize = 512;

impl Output for Vec<Event> {
    fn weight(&self) -> usize {
        self.iter().map(|e| if let Event::Data(d) = e { d.len() } else { 512 }).sum()
    }
    fn full(&self) -> bool {
        self.len() >= MAX_EVENTS || self.weight() >= OUTPUT_CAP
    }
}

/// Inflated bytes parsed at a time outside entries' data (headers, padding, the start of an
/// entry): the rest of an entry inflates straight into its data event, so little is copied.
const PLAIN_CHUNK: usize = 64 << 10;

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
    /// Inflated bytes (up to `PLAIN_CHUNK`), parsed up to `plain_pos`; the rest waits for the
    /// next step.
    plain: Vec<u8>,
    plain_pos: usize,
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
            plain_pos: 0,
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

    /// Feeds tar bytes to the parser, up to `MAX_EVENTS` events in `out`, and what it reports
    /// through the policy; returns the bytes consumed. The parser appends to `out` directly
    /// (extending a trailing data event), so only the bytes and events added here are counted.
    /// Events the parser reported before a framing error are checked first: the earliest fault
    /// wins, wherever the input was cut.
    fn parse(&mut self, tar_bytes: &[u8], out: &mut Vec<Event>) -> Result<usize> {
        let (start, mut already) = match out.last() {
            Some(Event::Data(d)) => (out.len() - 1, d.len()),
            _ => (out.len(), 0),
        };
        let framing = self.tar.write(tar_bytes, out, MAX_EVENTS);
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
        if self.plain_pos < self.plain.len() {
            self.parse_plain(out)?;
            return Ok(0);
        }
        let Some(gunzip) = self.gunzip.as_mut() else {
            return self.parse(input, out);
        };
        if self.tar.data_remaining() > 0 {
            // Inside an entry's data, inflate straight into its data event: no copy out of
            // `plain` (the bench corpus's import spent a tenth of its pool time copying). Up to
            // a whole cap whatever the step holds: held to the step's room, the import took a
            // fifth more steps and was no faster than copying.
            let mut used = 0;
            let added = self.tar.fill_data(out, OUTPUT_CAP, |data, room| {
                used = gunzip.write_at_most(input, data, room)?;
                Ok(())
            })?;
            self.policy.check_data(added as u64)?;
            return Ok(used);
        }
        self.plain.clear();
        self.plain_pos = 0;
        let used = gunzip.write_at_most(input, &mut self.plain, PLAIN_CHUNK)?;
        self.parse_plain(out)?;
        Ok(used)
    }

    /// Parses the inflated bytes not parsed yet, as far as the step has room for.
    fn parse_plain(&mut self, out: &mut Vec<Event>) -> Result<()> {
        let plain = std::mem::take(&mut self.plain);
        let parsed = self.parse(&plain[self.plain_pos..], out);
        self.plain = plain;
        self.plain_pos += parsed?;
        Ok(())
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
        while (pos < input.len() || self.has_buffered()) && !out.full() {
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

    fn has_buffered(&self) -> bool {
        self.plain_pos < self.plain.len()
    }
}
