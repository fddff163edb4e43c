//! The strict push parser: bytes in any split -> header, data and end events.

use super::header::{parse_block, Header, RawHeader, BLOCK};
use super::pax::{parse_mtime, parse_records, parse_u64};
use crate::error::{Error, Result};
use crate::transform::OUTPUT_CAP;

#[derive(Debug, PartialEq)]
pub enum Event {
    Header(Header),
    Data(Vec<u8>),
    EntryEnd,
    /// The end-of-archive blocks were read and everything after them was zero.
    End,
}

#[derive(Clone, Copy, PartialEq)]
enum Meta {
    Pax,
    GlobalPax,
    LongName,
    LongLink,
}

enum State {
    Header,
    Meta { kind: Meta, remaining: u64, padding: u64 },
    Data { remaining: u64, padding: u64 },
    /// One zero block read; the next must be zero too.
    SecondZero,
    AfterEnd,
}

/// Extension records that apply to the next real header only.
#[derive(Default)]
struct Pending {
    pax: Option<Vec<(String, String)>>,
    long_name: Option<Vec<u8>>,
    long_link: Option<Vec<u8>>,
}

impl Pending {
    fn is_empty(&self) -> bool {
        self.pax.is_none() && self.long_name.is_none() && self.long_link.is_none()
    }
}

pub struct TarReader {
    state: State,
    block: Box<[u8; BLOCK]>,
    block_len: usize,
    meta: Vec<u8>,
    max_meta: u64,
    pending: Pending,
    offset: u64,
    entries: u64,
    current: Option<String>,
}

fn ambiguous(what: &str) -> Error {
    Error::new("E_AMBIGUOUS_HEADER", format!("Two headers give the {what} of one entry"))
}

impl TarReader {
    /// `max_meta` caps one PAX or GNU long-name record, in bytes.
    pub fn new(max_meta: u64) -> Self {
        TarReader {
            state: State::Header,
            block: Box::new([0; BLOCK]),
            block_len: 0,
            meta: Vec::new(),
            max_meta,
            pending: Pending::default(),
            offset: 0,
            entries: 0,
            current: None,
        }
    }

    /// Consumes `input`, appending events, until it is all read or `events` holds `max_events`
    /// (a block's events may go past it). Returns how much of `input` was consumed.
    pub fn write(&mut self, input: &[u8], events: &mut Vec<Event>, max_events: usize) -> Result<usize> {
        let mut pos = 0;
        while pos < input.len() && events.len() < max_events {
            let used = self.step(&input[pos..], events).map_err(|e| self.context(e))?;
            pos += used;
            self.offset += used as u64;
        }
        Ok(pos)
    }

    fn context(&self, e: Error) -> Error {
        let e = e.at(self.offset);
        match &self.current {
            Some(name) => e.entry(self.entries - 1, name),
            None => e,
        }
    }

    fn step(&mut self, input: &[u8], events: &mut Vec<Event>) -> Result<usize> {
        match &mut self.state {
            State::Header | State::SecondZero => {
                let n = (BLOCK - self.block_len).min(input.len());
                self.block[self.block_len..self.block_len + n].copy_from_slice(&input[..n]);
                self.block_len += n;
                if self.block_len == BLOCK {
                    self.block_len = 0;
                    // Offsets in errors point at the start of the offending block.
                    self.offset -= (BLOCK - n) as u64;
                    let result = self.on_block(events);
                    self.offset += (BLOCK - n) as u64;
                    result?;
                }
                Ok(n)
            }
            State::Meta { kind, remaining, padding } => {
                let kind = *kind;
                if *remaining > 0 {
                    let n = (*remaining).min(input.len() as u64) as usize;
                    *remaining -= n as u64;
                    self.meta.extend_from_slice(&input[..n]);
                    return Ok(n);
                }
                let n = (*padding).min(input.len() as u64) as usize;
                *padding -= n as u64;
                if *padding == 0 {
                    self.state = State::Header;
                    self.on_meta(kind)?;
                }
                Ok(n)
            }
            State::Data { remaining, padding } => {
                if *remaining > 0 {
                    let n = (*remaining).min(input.len() as u64) as usize;
                    data_piece(events, n).extend_from_slice(&input[..n]);
                    *remaining -= n as u64;
                    if *remaining == 0 && *padding == 0 {
                        self.end_entry(events);
                    }
                    return Ok(n);
                }
                let n = (*padding).min(input.len() as u64) as usize;
                *padding -= n as u64;
                if *padding == 0 {
                    self.end_entry(events);
                }
                Ok(n)
            }
            State::AfterEnd => match input.iter().position(|&b| b != 0) {
                Some(i) => {
                    self.offset += i as u64;
                    Err(Error::new("E_TRAILING_DATA", "Non-zero bytes after the end-of-archive blocks"))
                }
                None => Ok(input.len()),
            },
        }
    }

    /// Bytes of the current entry's data still to come; 0 outside an entry's data.
    pub fn data_remaining(&self) -> u64 {
        match self.state {
            State::Data { remaining, .. } => remaining,
            _ => 0,
        }
    }

    /// Lets `fill` append the current entry's next bytes straight to its data event, at most
    /// `max` of them (and never past the entry's end): a caller that makes the bytes (the
    /// inflater) writes them there instead of into a buffer the parser copies from. `fill` is
    /// given the piece and how many bytes it may append. Returns how many it appended.
    pub fn fill_data(
        &mut self,
        events: &mut Vec<Event>,
        max: usize,
        fill: impl FnOnce(&mut Vec<u8>, usize) -> Result<()>,
    ) -> Result<usize> {
        let State::Data { remaining, padding } = &mut self.state else {
            return Ok(0);
        };
        let room = (*remaining).min(max as u64) as usize;
        let data = data_piece(events, room);
        let before = data.len();
        fill(data, room)?;
        let n = data.len() - before;
        *remaining -= n as u64;
        self.offset += n as u64;
        if *remaining == 0 && *padding == 0 {
            self.end_entry(events);
        }
        Ok(n)
    }

    fn end_entry(&mut self, events: &mut Vec<Event>) {
        events.push(Event::EntryEnd);
        self.current = None;
        self.state = State::Header;
    }

    fn on_block(&mut self, events: &mut Vec<Event>) -> Result<()> {
        let zero = self.block.iter().all(|&b| b == 0);
        if let State::SecondZero = self.state {
            if !zero {
                return Err(Error::new("E_HEADER_INVALID", "A lone zero block inside the archive"));
            }
            events.push(Event::End);
            self.state = State::AfterEnd;
            return Ok(());
        }
        if zero {
            if !self.pending.is_empty() {
                return Err(Error::new("E_PAX_INVALID", "An extension header is not followed by an entry"));
            }
            if self.offset == 0 {
                return Err(Error::new("E_NOT_TAR", "Input starts with a zero block, not a tar header"));
            }
            self.state = State::SecondZero;
            return Ok(());
        }
        let first = self.offset == 0;
        let raw = parse_block(&self.block, first)?;
        let meta = match raw.typeflag {
            b'x' => Some(Meta::Pax),
            b'g' => Some(Meta::GlobalPax),
            b'L' => Some(Meta::LongName),
            b'K' => Some(Meta::LongLink),
            _ => None,
        };
        if let Some(kind) = meta {
            let taken = match kind {
                Meta::Pax => self.pending.pax.is_some(),
                Meta::LongName => self.pending.long_name.is_some(),
                Meta::LongLink => self.pending.long_link.is_some(),
                Meta::GlobalPax => !self.pending.is_empty(),
            };
            if taken {
                return Err(Error::new("E_AMBIGUOUS_HEADER", "Two extension headers of one kind for one entry"));
            }
            if raw.size > self.max_meta {
                return Err(Error::new(
                    "E_META_TOO_LARGE",
                    format!("Extension header of {} bytes is over the {}-byte budget", raw.size, self.max_meta),
                ));
            }
            self.meta.clear();
            self.state = State::Meta { kind, remaining: raw.size, padding: pad(raw.size) };
            if raw.size == 0 {
                self.state = State::Header;
                self.on_meta(kind)?;
            }
            return Ok(());
        }
        let header = self.apply_extensions(raw)?;
        self.entries += 1;
        self.current = Some(header.name.clone());
        let size = header.size;
        events.push(Event::Header(header));
        if size == 0 {
            self.end_entry(events);
        } else {
            self.state = State::Data { remaining: size, padding: pad(size) };
        }
        Ok(())
    }

    fn on_meta(&mut self, kind: Meta) -> Result<()> {
        let data = std::mem::take(&mut self.meta);
        match kind {
            Meta::Pax => self.pending.pax = Some(parse_records(&data)?),
            Meta::GlobalPax => {
                parse_records(&data)?;
            }
            Meta::LongName | Meta::LongLink => {
                let end = data.iter().position(|&b| b == 0).unwrap_or(data.len());
                if end == 0 {
                    return Err(Error::new("E_PATH_INVALID", "GNU long name is empty"));
                }
                if data[end..].iter().any(|&b| b != 0) {
                    let shown = String::from_utf8_lossy(&data).trim_end_matches('\0').to_string();
                    return Err(Error::new("E_PATH_INVALID", "GNU long name contains a NUL byte").entry(self.entries, &shown));
                }
                let value = data[..end].to_vec();
                if kind == Meta::LongName {
                    self.pending.long_name = Some(value);
                } else {
                    self.pending.long_link = Some(value);
                }
            }
        }
        Ok(())
    }

    fn apply_extensions(&mut self, raw: RawHeader) -> Result<Header> {
        let pending = std::mem::take(&mut self.pending);
        let pax = pending.pax.unwrap_or_default();
        let find = |key: &str| pax.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str());

        let name = match (find("path"), pending.long_name) {
            (Some(_), Some(_)) => return Err(ambiguous("name")),
            (Some(path), None) => path.to_string(),
            (None, Some(long)) => String::from_utf8_lossy(&long).into_owned(),
            (None, None) => String::from_utf8_lossy(&raw.name).into_owned(),
        };
        let linkname = match (find("linkpath"), pending.long_link) {
            (Some(_), Some(_)) => return Err(ambiguous("link target")),
            (Some(path), None) => path.to_string(),
            (None, Some(long)) => String::from_utf8_lossy(&long).into_owned(),
            (None, None) => String::from_utf8_lossy(&raw.linkname).into_owned(),
        };
        let mut typeflag = if raw.typeflag == 0 { b'0' } else { raw.typeflag };
        if typeflag == b'0' && name.ends_with('/') {
            typeflag = b'5';
        }
        let mut header = Header {
            name,
            typeflag,
            size: raw.size,
            mode: raw.mode,
            uid: raw.uid,
            gid: raw.gid,
            mtime: raw.mtime,
            linkname: if linkname.is_empty() { None } else { Some(linkname) },
            uname: String::from_utf8_lossy(&raw.uname).into_owned(),
            gname: String::from_utf8_lossy(&raw.gname).into_owned(),
            devmajor: raw.devmajor,
            devminor: raw.devminor,
            pax: Vec::new(),
        };
        for (key, value) in &pax {
            match key.as_str() {
                "size" => header.size = parse_u64(key, value)?,
                "uid" => header.uid = parse_u64(key, value)?,
                "gid" => header.gid = parse_u64(key, value)?,
                "mtime" => header.mtime = parse_mtime(value)?,
                "uname" => header.uname = value.clone(),
                "gname" => header.gname = value.clone(),
                _ => {}
            }
        }
        if header.name.is_empty() {
            return Err(Error::new("E_PATH_INVALID", "Entry name is empty").entry(self.entries, ""));
        }
        if header.has_no_data() && header.size != 0 {
            return Err(Error::new("E_HEADER_INVALID", "An entry of a type without data has a non-zero size")
                .entry(self.entries, &header.name));
        }
        header.pax = pax;
        Ok(header)
    }

    /// Checks that the input ended where an archive may end.
    pub fn finish(&self) -> Result<()> {
        let err = match self.state {
            State::AfterEnd => return Ok(()),
            State::Header if self.block_len == 0 && self.offset == 0 => {
                Error::new("E_EMPTY_INPUT", "Input is empty")
            }
            State::Header if self.offset == 0 && !looks_like_tar(&self.block[..self.block_len]) => {
                Error::new("E_NOT_TAR", "Input is not a tar archive")
            }
            State::Header if self.block_len == 0 && self.pending.is_empty() => {
                Error::new("E_MISSING_EOA", "Archive ends without its end-of-archive blocks")
            }
            State::SecondZero if self.block_len == 0 => {
                Error::new("E_MISSING_EOA", "Archive ends after a single zero block")
            }
            State::Header | State::SecondZero => Error::truncated("a tar header"),
            State::Meta { .. } => Error::truncated("an extension header"),
            State::Data { remaining: 0, .. } => Error::truncated("the padding of an entry"),
            State::Data { .. } => Error::truncated("the data of an entry"),
        };
        Err(self.context(err))
    }
}

/// The data event that the next `n` bytes of an entry go to: the trailing one, moved to a
/// larger piece if it has no room for them (an entry's bytes in one step stay one piece, which
/// a stream's reader takes without joining two), else a new one sized to them, so a piece is
/// neither regrown as it fills nor much larger than its bytes. A piece moved grows at least
/// twofold, so that many small appends stay linear.
fn data_piece(events: &mut Vec<Event>, n: usize) -> &mut Vec<u8> {
    if !matches!(events.last(), Some(Event::Data(_))) {
        events.push(Event::Data(crate::pool::take(n.min(OUTPUT_CAP))));
    }
    let Some(Event::Data(data)) = events.last_mut() else { unreachable!("the last event is data") };
    if data.capacity() - data.len() < n {
        let mut larger = crate::pool::take((data.len() + n).max(2 * data.len()));
        larger.extend_from_slice(data);
        crate::pool::give(std::mem::replace(data, larger));
    }
    data
}

fn looks_like_tar(partial: &[u8]) -> bool {
    partial.len() >= 262 && &partial[257..262] == b"ustar"
}

fn pad(size: u64) -> u64 {
    (BLOCK as u64 - size % BLOCK as u64) % BLOCK as u64
}
