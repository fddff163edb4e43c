//! One 512-byte ustar header: encoding, parsing and checked numeric fields.

use crate::error::{Error, Result};

pub const BLOCK: usize = 512;

/// An entry's metadata, after PAX and GNU extensions are applied.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Header {
    pub name: String,
    pub typeflag: u8,
    pub size: u64,
    pub mode: u32,
    pub uid: u64,
    pub gid: u64,
    /// Seconds since the epoch.
    pub mtime: i64,
    pub linkname: Option<String>,
    pub uname: String,
    pub gname: String,
    pub devmajor: u32,
    pub devminor: u32,
    /// The PAX records that applied to this entry, in order.
    pub pax: Vec<(String, String)>,
}

impl Header {
    /// Types that never carry data, whatever their size field says.
    pub fn has_no_data(&self) -> bool {
        matches!(self.typeflag, b'1'..=b'6')
    }
}

const TYPES: [(u8, &str); 14] = [
    (b'0', "file"),
    (b'1', "link"),
    (b'2', "symlink"),
    (b'3', "character-device"),
    (b'4', "block-device"),
    (b'5', "directory"),
    (b'6', "fifo"),
    (b'7', "contiguous-file"),
    (b'x', "pax-header"),
    (b'g', "pax-global-header"),
    (b'L', "gnu-long-path"),
    (b'K', "gnu-long-link-path"),
    (b'D', "gnu-dumpdir"),
    (b'S', "gnu-sparse"),
];

/// tar-stream's name for a typeflag, or `None` for flags it does not know.
pub fn type_name(flag: u8) -> Option<&'static str> {
    let flag = if flag == 0 { b'0' } else { flag };
    TYPES.iter().find(|(f, _)| *f == flag).map(|(_, n)| *n)
}

pub fn type_from_name(name: &str) -> Option<u8> {
    TYPES.iter().find(|(_, n)| *n == name).map(|(f, _)| *f)
}

/// The fields of one header block as stored, before extensions are applied.
pub struct RawHeader {
    pub name: Vec<u8>,
    pub typeflag: u8,
    pub size: u64,
    pub mode: u32,
    pub uid: u64,
    pub gid: u64,
    pub mtime: i64,
    pub linkname: Vec<u8>,
    pub uname: Vec<u8>,
    pub gname: Vec<u8>,
    pub devmajor: u32,
    pub devminor: u32,
}

fn cstr(field: &[u8]) -> &[u8] {
    match field.iter().position(|&b| b == 0) {
        Some(end) => &field[..end],
        None => field,
    }
}

/// Parses a numeric field: octal digits (leading spaces, then NUL/space terminated) or
/// base-256 (high bit set). Negative and overflowing values are rejected.
pub fn parse_number(field: &[u8], what: &str) -> Result<u64> {
    let invalid = |why: &str| Error::new("E_HEADER_INVALID", format!("Header field {what} is {why}"));
    if field[0] & 0x80 != 0 {
        if field[0] == 0xff {
            return Err(invalid("negative"));
        }
        if field[0] != 0x80 {
            return Err(invalid("not a valid base-256 number"));
        }
        let mut value: u64 = 0;
        for &b in &field[1..] {
            if value >> 56 != 0 {
                return Err(invalid("too large"));
            }
            value = (value << 8) | b as u64;
        }
        return Ok(value);
    }
    let mut i = 0;
    while i < field.len() && field[i] == b' ' {
        i += 1;
    }
    let mut value: u64 = 0;
    while i < field.len() && (b'0'..=b'7').contains(&field[i]) {
        value = value
            .checked_mul(8)
            .and_then(|v| v.checked_add((field[i] - b'0') as u64))
            .ok_or_else(|| invalid("too large"))?;
        i += 1;
    }
    if field[i..].iter().any(|&b| b != 0 && b != b' ') {
        return Err(invalid("not an octal number"));
    }
    Ok(value)
}

fn checksum_ok(block: &[u8; BLOCK]) -> bool {
    let stored = match parse_number(&block[148..156], "chksum") {
        Ok(v) => v,
        Err(_) => return false,
    };
    let mut unsigned: u64 = 0;
    let mut signed: i64 = 0;
    for (i, &b) in block.iter().enumerate() {
        let b = if (148..156).contains(&i) { b' ' } else { b };
        unsigned += b as u64;
        signed += b as i8 as i64;
    }
    stored == unsigned || stored as i64 == signed
}

fn small(value: u64, what: &str) -> Result<u32> {
    u32::try_from(value).map_err(|_| Error::new("E_HEADER_INVALID", format!("Header field {what} is too large")))
}

/// Parses one header block. `first` selects `E_NOT_TAR` over `E_HEADER_CHECKSUM` when the
/// block does not look like tar at all.
pub fn parse_block(block: &[u8; BLOCK], first: bool) -> Result<RawHeader> {
    let magic = &block[257..263];
    let is_ustar = magic == b"ustar\0";
    let is_gnu = magic == b"ustar ";
    if !checksum_ok(block) {
        return Err(if first && !is_ustar && !is_gnu {
            Error::new("E_NOT_TAR", "Input is not a tar archive")
        } else {
            Error::new("E_HEADER_CHECKSUM", "Header checksum does not match")
        });
    }
    let mut name = cstr(&block[0..100]).to_vec();
    if is_ustar {
        let prefix = cstr(&block[345..500]);
        if !prefix.is_empty() {
            let mut full = prefix.to_vec();
            full.push(b'/');
            full.extend_from_slice(&name);
            name = full;
        }
    }
    let mtime = parse_number(&block[136..148], "mtime")?;
    let dev = |range: std::ops::Range<usize>, what| -> Result<u32> {
        if is_ustar || is_gnu {
            small(parse_number(&block[range], what)?, what)
        } else {
            Ok(0)
        }
    };
    Ok(RawHeader {
        name,
        typeflag: block[156],
        size: parse_number(&block[124..136], "size")?,
        mode: small(parse_number(&block[100..108], "mode")?, "mode")?,
        uid: parse_number(&block[108..116], "uid")?,
        gid: parse_number(&block[116..124], "gid")?,
        mtime: i64::try_from(mtime).map_err(|_| Error::new("E_HEADER_INVALID", "Header field mtime is too large"))?,
        linkname: cstr(&block[157..257]).to_vec(),
        uname: if is_ustar || is_gnu { cstr(&block[265..297]).to_vec() } else { Vec::new() },
        gname: if is_ustar || is_gnu { cstr(&block[297..329]).to_vec() } else { Vec::new() },
        devmajor: dev(329..337, "devmajor")?,
        devminor: dev(337..345, "devminor")?,
    })
}

fn put_octal(field: &mut [u8], value: u64) -> bool {
    let digits = field.len() - 1;
    let text = format!("{value:0digits$o}");
    if text.len() > digits {
        return false;
    }
    field[..digits].copy_from_slice(text.as_bytes());
    field[digits] = 0;
    true
}

fn put_str(field: &mut [u8], value: &[u8]) {
    let n = value.len().min(field.len());
    field[..n].copy_from_slice(&value[..n]);
}

/// Fields of one ustar block as the writer fills them; numbers that do not fit are written
/// as 0 and must be carried by PAX records (the caller checks with `fits_octal`).
pub struct BlockFields<'a> {
    pub name: &'a [u8],
    pub typeflag: u8,
    pub size: u64,
    pub mode: u32,
    pub uid: u64,
    pub gid: u64,
    pub mtime: u64,
    pub linkname: &'a [u8],
    pub uname: &'a [u8],
    pub gname: &'a [u8],
    pub devmajor: u32,
    pub devminor: u32,
}

pub fn fits_octal(value: u64, field_len: usize) -> bool {
    value < 1u64 << (3 * (field_len as u32 - 1))
}

pub fn encode_block(f: &BlockFields) -> [u8; BLOCK] {
    let mut b = [0u8; BLOCK];
    put_str(&mut b[0..100], f.name);
    put_octal(&mut b[100..108], (f.mode & 0o7777777) as u64);
    for (range, value) in [(108..116, f.uid), (116..124, f.gid), (124..136, f.size), (136..148, f.mtime)] {
        if !put_octal(&mut b[range.clone()], value) {
            put_octal(&mut b[range], 0);
        }
    }
    b[156] = f.typeflag;
    put_str(&mut b[157..257], f.linkname);
    b[257..263].copy_from_slice(b"ustar\0");
    b[263..265].copy_from_slice(b"00");
    put_str(&mut b[265..297], f.uname);
    put_str(&mut b[297..329], f.gname);
    put_octal(&mut b[329..337], f.devmajor as u64);
    put_octal(&mut b[337..345], f.devminor as u64);
    b[148..156].fill(b' ');
    let sum: u64 = b.iter().map(|&x| x as u64).sum();
    let text = format!("{sum:06o}\0 ");
    b[148..156].copy_from_slice(text.as_bytes());
    b
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers() {
        assert_eq!(parse_number(b"0000644\0", "mode").unwrap(), 0o644);
        assert_eq!(parse_number(b"  644 \0\0", "mode").unwrap(), 0o644);
        assert_eq!(parse_number(b"\0\0\0\0\0\0\0\0", "x").unwrap(), 0);
        assert_eq!(parse_number(&[0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0], "size").unwrap(), 256);
        assert_eq!(parse_number(b"0000644x", "mode").unwrap_err().code, "E_HEADER_INVALID");
        assert_eq!(parse_number(&[0xff; 12], "size").unwrap_err().code, "E_HEADER_INVALID");
        let mut big = [0xffu8; 12];
        big[0] = 0x80;
        assert_eq!(parse_number(&big, "size").unwrap_err().code, "E_HEADER_INVALID");
        assert_eq!(parse_number(b"77777777777777777777777", "x").unwrap_err().code, "E_HEADER_INVALID");
    }

    #[test]
    fn block_round_trip() {
        let b = encode_block(&BlockFields {
            name: b"a/b.txt",
            typeflag: b'0',
            size: 1234,
            mode: 0o644,
            uid: 1,
            gid: 2,
            mtime: 1_700_000_000,
            linkname: b"",
            uname: b"u",
            gname: b"g",
            devmajor: 0,
            devminor: 0,
        });
        let h = parse_block(&b, true).unwrap();
        assert_eq!(h.name, b"a/b.txt");
        assert_eq!((h.size, h.mode, h.uid, h.gid, h.mtime), (1234, 0o644, 1, 2, 1_700_000_000));
        let mut bad = b;
        bad[0] ^= 1;
        assert_eq!(parse_block(&bad, false).err().unwrap().code, "E_HEADER_CHECKSUM");
    }
}
