//! Entry headers as the writer emits them: ustar, preceded by a PAX header when a field does
//! not fit (names over 100 bytes, non-ASCII text, sizes of 8 GiB and more, large ids).

use super::header::{encode_block, fits_octal, BlockFields, Header, BLOCK};
use super::pax::encode_record;
use crate::error::{Error, Result};

fn fits_text(value: &str, len: usize) -> bool {
    value.len() <= len && value.is_ascii()
}

/// The longest prefix of `value` within `len` bytes that ends on a character boundary.
fn truncated(value: &str, len: usize) -> &[u8] {
    let mut end = value.len().min(len);
    while !value.is_char_boundary(end) {
        end -= 1;
    }
    &value.as_bytes()[..end]
}

/// Header blocks for one entry (PAX header and its records if needed, then the ustar block).
pub fn entry_header(h: &Header) -> Result<Vec<u8>> {
    if h.name.is_empty() {
        return Err(Error::new("E_PATH_INVALID", "Entry name is empty"));
    }
    if h.name.contains('\0') || h.linkname.as_deref().unwrap_or("").contains('\0') {
        return Err(Error::new("E_PATH_INVALID", "Entry name contains a NUL byte"));
    }
    // Directories are stored with a trailing '/', as GNU tar and Python write them.
    let dir_name;
    let h = if h.typeflag == b'5' && !h.name.ends_with('/') {
        dir_name = Header { name: format!("{}/", h.name), ..h.clone() };
        &dir_name
    } else {
        h
    };
    let linkname = h.linkname.as_deref().unwrap_or("");
    let mut records = Vec::new();
    if !fits_text(&h.name, 100) {
        encode_record(&mut records, "path", &h.name);
    }
    if !fits_text(linkname, 100) {
        encode_record(&mut records, "linkpath", linkname);
    }
    if !fits_octal(h.size, 12) {
        encode_record(&mut records, "size", &h.size.to_string());
    }
    if h.mtime < 0 || !fits_octal(h.mtime as u64, 12) {
        encode_record(&mut records, "mtime", &h.mtime.to_string());
    }
    for (key, value) in [("uid", h.uid), ("gid", h.gid)] {
        if !fits_octal(value, 8) {
            encode_record(&mut records, key, &value.to_string());
        }
    }
    for (key, value) in [("uname", &h.uname), ("gname", &h.gname)] {
        if !fits_text(value, 32) {
            encode_record(&mut records, key, value);
        }
    }
    for (key, value) in &h.pax {
        if !matches!(key.as_str(), "path" | "linkpath" | "size" | "mtime" | "uid" | "gid" | "uname" | "gname") {
            if key.is_empty() || key.contains(['=', '\0']) || value.contains('\0') {
                return Err(Error::new("E_PAX_INVALID", format!("PAX record {key:?} cannot be written")));
            }
            encode_record(&mut records, key, value);
        }
    }

    let mut out = Vec::with_capacity(3 * BLOCK + records.len());
    if !records.is_empty() {
        let pax_block = encode_block(&BlockFields {
            name: truncated(&format!("PaxHeaders/{}", h.name), 100),
            typeflag: b'x',
            size: records.len() as u64,
            mode: 0o644,
            uid: 0,
            gid: 0,
            mtime: h.mtime.max(0) as u64,
            linkname: b"",
            uname: b"",
            gname: b"",
            devmajor: 0,
            devminor: 0,
        });
        out.extend_from_slice(&pax_block);
        out.extend_from_slice(&records);
        out.extend_from_slice(padding(records.len() as u64));
    }
    out.extend_from_slice(&encode_block(&BlockFields {
        name: truncated(&h.name, 100),
        typeflag: if h.typeflag == 0 { b'0' } else { h.typeflag },
        size: if h.has_no_data() { 0 } else { h.size },
        mode: h.mode,
        uid: h.uid,
        gid: h.gid,
        mtime: h.mtime.max(0) as u64,
        linkname: truncated(linkname, 100),
        uname: truncated(&h.uname, 32),
        gname: truncated(&h.gname, 32),
        devmajor: h.devmajor,
        devminor: h.devminor,
    }));
    Ok(out)
}

const ZEROS: [u8; 2 * BLOCK] = [0; 2 * BLOCK];

/// Zero bytes that pad `size` bytes of data to a whole block.
pub fn padding(size: u64) -> &'static [u8] {
    let rem = (size % BLOCK as u64) as usize;
    &ZEROS[..if rem == 0 { 0 } else { BLOCK - rem }]
}

/// The two zero blocks that end an archive.
pub fn end_of_archive() -> &'static [u8] {
    &ZEROS
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tar::{Event, TarReader};

    #[test]
    fn pax_carries_what_ustar_cannot() {
        let name = format!("{}/naïve.txt", "n".repeat(120));
        let h = Header { name: name.clone(), typeflag: b'0', size: 9 << 30, mtime: -5, uid: 1 << 30, ..Default::default() };
        let blocks = entry_header(&h).unwrap();
        assert_eq!(blocks[156], b'x');
        let mut reader = TarReader::new(1 << 20);
        let mut events = Vec::new();
        reader.write(&blocks, &mut events, usize::MAX).unwrap();
        let Some(Event::Header(read)) = events.first() else { panic!("no header: {events:?}") };
        assert_eq!((read.name.as_str(), read.size, read.mtime, read.uid), (name.as_str(), 9 << 30, -5, 1 << 30));
    }
}
