use flate2::{Decompress, FlushDecompress, Status};

use crate::error::{Error, Result};
use crate::transform::{Transform, OUTPUT_CAP};

/// Longest FNAME or FCOMMENT field accepted in a member header.
const MAX_HEADER_STRING: usize = 64 * 1024;
const FTEXT_FHCRC_FEXTRA_FNAME_FCOMMENT: u8 = 0x1f;

enum State {
    /// Nothing read yet.
    Start,
    Header(MemberHeader),
    Body,
    Trailer { buf: [u8; 8], len: usize },
    /// A member ended; the next byte decides between another member and zero padding.
    Between,
    Padding,
}

/// Decodes every member of a gzip stream, checking CRC32 and ISIZE of each. Accepts zero
/// padding after the last member; any other trailing byte is an error.
pub struct GzipDecoder {
    state: State,
    inflate: Decompress,
    crc: crc32fast::Hasher,
    size: u64,
    offset: u64,
    members: u64,
    /// An error met after this call had already produced output: that output goes out
    /// first and the error comes with the next call, so where the input was cut does not
    /// decide whether a reader sees the bytes before a corruption.
    failed: Option<Error>,
}

impl Default for GzipDecoder {
    fn default() -> Self {
        Self::new()
    }
}

impl GzipDecoder {
    pub fn new() -> Self {
        GzipDecoder {
            state: State::Start,
            inflate: Decompress::new(false),
            crc: crc32fast::Hasher::new(),
            size: 0,
            offset: 0,
            members: 0,
            failed: None,
        }
    }

    /// `true` until the header of the first member has been fully read and accepted.
    pub fn in_first_header(&self) -> bool {
        self.members == 0 && matches!(self.state, State::Start | State::Header(_))
    }

    /// Input bytes consumed so far.
    pub fn offset(&self) -> u64 {
        self.offset
    }

    /// Inflates into `out`, up to `limit` bytes in all.
    fn body(&mut self, input: &[u8], out: &mut Vec<u8>, limit: usize) -> Result<usize> {
        let room = limit - out.len();
        out.reserve(room);
        let (in_before, out_before) = (self.inflate.total_in(), self.inflate.total_out());
        let result = self.inflate.decompress_uninit(input, &mut out.spare_capacity_mut()[..room], FlushDecompress::None);
        let used = (self.inflate.total_in() - in_before) as usize;
        let produced = (self.inflate.total_out() - out_before) as usize;
        let start = out.len();
        // SAFETY: inflate initialised the first `produced` bytes of the spare capacity (also
        // when it then failed: those bytes go out before the error, as `write` promises).
        unsafe { out.set_len(start + produced) };
        self.crc.update(&out[start..]);
        self.size += produced as u64;
        let status =
            result.map_err(|e| Error::new("E_GZIP_DATA", format!("Invalid deflate data: {e}")).at(self.offset))?;
        if status == Status::StreamEnd {
            self.state = State::Trailer { buf: [0; 8], len: 0 };
        } else if used == 0 && produced == 0 {
            return Err(Error::internal("inflate made no progress").at(self.offset));
        }
        Ok(used)
    }

    fn trailer(&mut self, input: &[u8]) -> Result<usize> {
        let State::Trailer { buf, len } = &mut self.state else { unreachable!() };
        let n = (8 - *len).min(input.len());
        buf[*len..*len + n].copy_from_slice(&input[..n]);
        *len += n;
        if *len == 8 {
            let crc = u32::from_le_bytes(buf[0..4].try_into().unwrap());
            let isize = u32::from_le_bytes(buf[4..8].try_into().unwrap());
            let at = self.offset + n as u64;
            if crc != self.crc.clone().finalize() {
                return Err(Error::new("E_GZIP_CRC", "gzip member CRC32 does not match its data").at(at));
            }
            if isize != self.size as u32 {
                return Err(Error::new("E_GZIP_SIZE", "gzip member ISIZE does not match its data length").at(at));
            }
            self.inflate.reset(false);
            self.crc = crc32fast::Hasher::new();
            self.size = 0;
            self.members += 1;
            self.state = State::Between;
        }
        Ok(n)
    }
}

impl Transform for GzipDecoder {
    type Out = Vec<u8>;

    fn write(&mut self, input: &[u8], out: &mut Vec<u8>) -> Result<usize> {
        self.write_at_most(input, out, OUTPUT_CAP.saturating_sub(out.len()))
    }

    fn finish(&mut self, _out: &mut Vec<u8>) -> Result<bool> {
        if let Some(e) = &self.failed {
            return Err(e.clone());
        }
        match &self.state {
            State::Start => Err(Error::new("E_EMPTY_INPUT", "Input is empty")),
            State::Between | State::Padding => Ok(true),
            State::Header(_) => Err(Error::truncated("a gzip header").at(self.offset)),
            State::Body => Err(Error::truncated("gzip data").at(self.offset)),
            State::Trailer { .. } => Err(Error::truncated("a gzip trailer").at(self.offset)),
        }
    }

    fn has_buffered(&self) -> bool {
        self.failed.is_some()
    }
}

impl GzipDecoder {
    /// As `write`, but appends at most `room` bytes to `out`: an extractor inflates an entry's
    /// bytes straight into the entry's own data piece, up to where the entry ends.
    pub fn write_at_most(&mut self, input: &[u8], out: &mut Vec<u8>, room: usize) -> Result<usize> {
        if let Some(e) = &self.failed {
            return Err(e.clone());
        }
        let produced = out.len();
        self.decode(input, out, produced + room).or_else(|e| {
            if out.len() == produced {
                return Err(e);
            }
            self.failed = Some(e);
            Ok(0)
        })
    }

    fn decode(&mut self, input: &[u8], out: &mut Vec<u8>, limit: usize) -> Result<usize> {
        let mut pos = 0;
        while pos < input.len() && out.len() < limit {
            let rest = &input[pos..];
            let used = match &mut self.state {
                State::Start => {
                    self.state = State::Header(MemberHeader::new(true));
                    0
                }
                State::Between => {
                    if rest[0] == 0 {
                        self.state = State::Padding;
                    } else {
                        self.state = State::Header(MemberHeader::new(false));
                    }
                    0
                }
                State::Header(header) => {
                    let (used, complete) = header.feed(rest).map_err(|e| e.at(self.offset))?;
                    if complete {
                        self.state = State::Body;
                    }
                    used
                }
                State::Body => self.body(rest, out, limit)?,
                State::Trailer { .. } => self.trailer(rest)?,
                State::Padding => match rest.iter().position(|&b| b != 0) {
                    Some(i) => {
                        return Err(trailing_garbage().at(self.offset + i as u64));
                    }
                    None => rest.len(),
                },
            };
            pos += used;
            self.offset += used as u64;
        }
        Ok(pos)
    }
}

fn trailing_garbage() -> Error {
    Error::new("E_GZIP_TRAILING_GARBAGE", "Unexpected bytes after the last gzip member")
}

enum Field {
    Fixed,
    ExtraLen,
    Extra(usize),
    Name,
    Comment,
    HeaderCrc,
}

/// Incremental parser of one member header (RFC 1952 2.3), fed any number of bytes at a time.
struct MemberHeader {
    first: bool,
    field: Field,
    buf: [u8; 10],
    len: usize,
    string_len: usize,
    flags: u8,
    crc: crc32fast::Hasher,
}

impl MemberHeader {
    fn new(first: bool) -> Self {
        MemberHeader {
            first,
            field: Field::Fixed,
            buf: [0; 10],
            len: 0,
            string_len: 0,
            flags: 0,
            crc: crc32fast::Hasher::new(),
        }
    }

    /// Reads up to the end of the header. Returns bytes used and whether the header is complete.
    fn feed(&mut self, input: &[u8]) -> Result<(usize, bool)> {
        let mut pos = 0;
        while pos < input.len() {
            let byte = input[pos];
            pos += 1;
            if !matches!(self.field, Field::HeaderCrc) {
                self.crc.update(&[byte]);
            }
            match self.field {
                Field::Fixed => {
                    self.buf[self.len] = byte;
                    self.len += 1;
                    self.check_fixed_prefix()?;
                    if self.len == 10 {
                        self.flags = self.buf[3];
                        self.len = 0;
                        if self.advance(0) {
                            return Ok((pos, true));
                        }
                    }
                }
                Field::ExtraLen => {
                    self.buf[self.len] = byte;
                    self.len += 1;
                    if self.len == 2 {
                        let xlen = u16::from_le_bytes([self.buf[0], self.buf[1]]) as usize;
                        self.len = 0;
                        if xlen > 0 {
                            self.field = Field::Extra(xlen);
                        } else if self.advance(0x04) {
                            return Ok((pos, true));
                        }
                    }
                }
                Field::Extra(remaining) => {
                    if remaining > 1 {
                        self.field = Field::Extra(remaining - 1);
                    } else if self.advance(0x04) {
                        return Ok((pos, true));
                    }
                }
                Field::Name | Field::Comment => {
                    if byte == 0 {
                        let next = if matches!(self.field, Field::Name) { 0x08 } else { 0x10 };
                        self.string_len = 0;
                        if self.advance(next) {
                            return Ok((pos, true));
                        }
                    } else {
                        self.string_len += 1;
                        if self.string_len > MAX_HEADER_STRING {
                            return Err(Error::new("E_GZIP_HEADER", "gzip header name or comment is too long"));
                        }
                    }
                }
                Field::HeaderCrc => {
                    self.buf[self.len] = byte;
                    self.len += 1;
                    if self.len == 2 {
                        let stored = u16::from_le_bytes([self.buf[0], self.buf[1]]);
                        if stored != (self.crc.clone().finalize() & 0xffff) as u16 {
                            return Err(Error::new("E_GZIP_HEADER", "gzip header CRC16 does not match"));
                        }
                        return Ok((pos, true));
                    }
                }
            }
        }
        Ok((pos, false))
    }

    fn check_fixed_prefix(&self) -> Result<()> {
        let i = self.len - 1;
        let b = self.buf[i];
        match i {
            0 | 1 if b != [0x1f, 0x8b][i] => Err(if self.first {
                Error::new("E_NOT_GZIP", "Input is not gzip data")
            } else {
                trailing_garbage()
            }),
            2 if b != 8 => Err(Error::new("E_GZIP_HEADER", format!("Unsupported gzip compression method {b}"))),
            3 if b & !FTEXT_FHCRC_FEXTRA_FNAME_FCOMMENT != 0 => {
                Err(Error::new("E_GZIP_HEADER", "gzip header has reserved flag bits set"))
            }
            _ => Ok(()),
        }
    }

    /// Moves to the next optional field present after the one just finished, named by its
    /// flag bit (0 for the fixed part; 0x04 FEXTRA, 0x08 FNAME, 0x10 FCOMMENT). Returns
    /// `true` when no field is left.
    fn advance(&mut self, finished: u8) -> bool {
        let order = [(0x04, Field::ExtraLen), (0x08, Field::Name), (0x10, Field::Comment), (0x02, Field::HeaderCrc)];
        let start = order.iter().position(|(bit, _)| *bit == finished).map_or(0, |i| i + 1);
        for (bit, field) in order.into_iter().skip(start) {
            if self.flags & bit != 0 {
                self.field = field;
                return false;
            }
        }
        true
    }
}
