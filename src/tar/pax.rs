//! PAX extended header records: `"<len> <key>=<value>\n"`, len counting the whole record.

use crate::error::{Error, Result};

fn invalid(why: &str) -> Error {
    Error::new("E_PAX_INVALID", format!("Malformed PAX header: {why}"))
}

pub fn parse_records(data: &[u8]) -> Result<Vec<(String, String)>> {
    let mut records: Vec<(String, String)> = Vec::new();
    let mut rest = data;
    while !rest.is_empty() {
        if rest.iter().all(|&b| b == 0) {
            break;
        }
        let space = rest.iter().take(20).position(|&b| b == b' ').ok_or_else(|| invalid("record length"))?;
        let digits = &rest[..space];
        if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) || (digits[0] == b'0') {
            return Err(invalid("record length"));
        }
        let len: usize = std::str::from_utf8(digits).unwrap().parse().map_err(|_| invalid("record length"))?;
        if len < space + 3 || len > rest.len() {
            return Err(invalid("record length out of range"));
        }
        let record = &rest[space + 1..len];
        if record.last() != Some(&b'\n') {
            return Err(invalid("record does not end with a newline"));
        }
        let record = &record[..record.len() - 1];
        let eq = record.iter().position(|&b| b == b'=').ok_or_else(|| invalid("record without '='"))?;
        let (key, value) = (&record[..eq], &record[eq + 1..]);
        if key.is_empty() || key.contains(&0) || value.contains(&0) {
            return Err(invalid("empty key or NUL byte"));
        }
        let key = String::from_utf8(key.to_vec()).map_err(|_| invalid("key is not UTF-8"))?;
        let value = String::from_utf8(value.to_vec()).map_err(|_| invalid("value is not UTF-8"))?;
        if matches!(key.as_str(), "path" | "linkpath" | "size") && records.iter().any(|(k, _)| *k == key) {
            return Err(Error::new("E_AMBIGUOUS_HEADER", format!("PAX record {key:?} appears twice")));
        }
        records.push((key, value));
        rest = &rest[len..];
    }
    Ok(records)
}

pub fn encode_record(out: &mut Vec<u8>, key: &str, value: &str) {
    let body = key.len() + value.len() + 3; // ' ', '=', '\n'
    let mut len = body + 1;
    while len != body + len.to_string().len() {
        len = body + len.to_string().len();
    }
    out.extend_from_slice(format!("{len} {key}={value}\n").as_bytes());
}

/// Strict decimal for numeric PAX values (`size`, `uid`, `gid`).
pub fn parse_u64(key: &str, value: &str) -> Result<u64> {
    if value.is_empty() || !value.bytes().all(|b| b.is_ascii_digit()) {
        return Err(invalid(&format!("{key} is not a decimal number")));
    }
    value.parse().map_err(|_| invalid(&format!("{key} is too large")))
}

/// PAX `mtime`: decimal seconds, optionally negative and fractional; the fraction is dropped.
pub fn parse_mtime(value: &str) -> Result<i64> {
    let (neg, digits) = match value.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, value),
    };
    let int = digits.split('.').next().unwrap_or("");
    let frac = digits.get(int.len() + 1..).unwrap_or("");
    if int.is_empty() || !int.bytes().all(|b| b.is_ascii_digit()) || !frac.bytes().all(|b| b.is_ascii_digit()) {
        return Err(invalid("mtime is not a number"));
    }
    let seconds: i64 = int.parse().map_err(|_| invalid("mtime is too large"))?;
    Ok(if neg { -seconds } else { seconds })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let mut data = Vec::new();
        encode_record(&mut data, "path", "a".repeat(200).as_str());
        encode_record(&mut data, "size", "9");
        let records = parse_records(&data).unwrap();
        assert_eq!(records[0], ("path".into(), "a".repeat(200)));
        assert_eq!(records[1], ("size".into(), "9".into()));
        assert!(data.ends_with(b"9 size=9\n"));
    }

    #[test]
    fn malformed() {
        for bad in [&b"5 a=b\n"[..], b"07 a=b\n", b"x a=b\n", b"6 ab\n\n", b"7 =bc\n", b"99 a=b\n"] {
            assert!(parse_records(bad).is_err(), "{:?}", String::from_utf8_lossy(bad));
        }
        assert_eq!(parse_records(b"6 a=b\n").unwrap(), vec![("a".into(), "b".into())]);
        assert_eq!(parse_records(b"9 path=a\n9 path=b\n").unwrap_err().code, "E_AMBIGUOUS_HEADER");
        assert_eq!(parse_mtime("-12.5").unwrap(), -12);
        assert!(parse_u64("size", "-1").is_err());
    }
}
