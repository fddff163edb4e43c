//! The fuzz targets' checks, one function each, over the pure core. The first input byte
//! chooses a piece size (0 = whole) and the rest is the input; each check asserts that the
//! outcome does not depend on how the input is cut, plus its own invariants.
//! `tests/fuzz_findings.rs` in the main crate replays every saved finding through them.

use std::io::Read;
use std::sync::{Arc, OnceLock};

use backup_native::app::{self, Format, Route, HEAD_LEN};
use backup_native::envelope::{Decryptor, Encryptor, KeyCache, SharedKey};
use backup_native::error::{Error, Result};
use backup_native::extract::{Extractor, GzipMode};
use backup_native::gzip::{GzipDecoder, GzipEncoder};
use backup_native::policy::{check_path, Limits, Mode};
use backup_native::tar::Event;
use backup_native::transform::{Pump, Transform};

/// Runs `input` through a fresh pipeline in pieces of `piece` bytes (0 = whole), the way the
/// napi layer drives it: push, then step until nothing is left, then end.
pub fn run<T: Transform>(transform: T, input: &[u8], piece: usize) -> Result<T::Out>
where
    T::Out: Extend<<T::Out as IntoIterator>::Item> + IntoIterator,
{
    let mut pump = Pump::new(transform);
    let mut out = T::Out::default();
    let piece = if piece == 0 { input.len().max(1) } else { piece };
    for chunk in input.chunks(piece) {
        out.extend(pump.push(chunk)?);
        while pump.has_more() {
            out.extend(pump.step()?);
        }
    }
    out.extend(pump.end()?);
    while pump.has_more() {
        out.extend(pump.step()?);
    }
    Ok(out)
}

/// Events with data merged, so outputs can be compared whatever the step boundaries were.
pub fn merge(events: Vec<Event>) -> Vec<Event> {
    let mut out: Vec<Event> = Vec::new();
    for event in events {
        match (out.last_mut(), event) {
            (Some(Event::Data(last)), Event::Data(more)) => last.extend(more),
            (_, event) => out.push(event),
        }
    }
    out
}

/// The piece size a fuzz input asks for: its first byte (0 means whole), and the rest as input.
pub fn split_spec(data: &[u8]) -> Option<(usize, &[u8])> {
    let (&first, rest) = data.split_first()?;
    Some((first as usize, rest))
}

/// Ok results must be equal, and errors must carry the same code.
pub fn assert_same<T: PartialEq + std::fmt::Debug>(whole: &Result<T>, pieces: &Result<T>) {
    match (whole, pieces) {
        (Ok(a), Ok(b)) => assert_eq!(a, b, "whole vs pieces"),
        (Err(a), Err(b)) => assert_eq!(a.code, b.code, "whole vs pieces: {a} / {b}"),
        _ => panic!("whole {:?} vs pieces {:?}", whole.as_ref().err(), pieces.as_ref().err()),
    }
}

const PASSWORD: &str = "fuzz";

/// Small budgets, so the fuzzer reaches them too.
fn limits() -> Limits {
    Limits { max_meta: 4096, max_path: 512, max_component: 64, max_depth: 16, max_entries: 64, max_entry_size: 1 << 20, max_total: 4 << 20 }
}

// PBKDF2 costs milliseconds; keys kept across runs keep the fuzzer fast on known salts.
fn cache() -> Arc<KeyCache> {
    static CACHE: OnceLock<Arc<KeyCache>> = OnceLock::new();
    CACHE.get_or_init(Default::default).clone()
}

fn wrong_password_cache() -> Arc<KeyCache> {
    static CACHE: OnceLock<Arc<KeyCache>> = OnceLock::new();
    CACHE.get_or_init(Default::default).clone()
}

fn shared_key() -> &'static SharedKey {
    static KEY: OnceLock<SharedKey> = OnceLock::new();
    KEY.get_or_init(|| SharedKey::derive(PASSWORD).unwrap())
}

fn decrypt(bytes: &[u8], piece: usize) -> Result<Vec<u8>> {
    run(Decryptor::with_cache(PASSWORD, cache()), bytes, piece)
}

/// The extract pipeline (gzip sniffing, tar framing, policy), strict and permissive.
pub fn tar_reader(data: &[u8]) {
    let Some((piece, input)) = split_spec(data) else { return };
    for mode in [Mode::Strict, Mode::Permissive] {
        let make = || Extractor::new(GzipMode::Auto, mode, limits());
        let whole = run(make(), input, 0).map(merge);
        let pieces = run(make(), input, piece).map(merge);
        assert_same(&whole, &pieces);
    }
}

/// The gzip decoder; whatever it accepts, flate2's MultiGzDecoder decodes to the same bytes;
/// and the encoder round-trips every input.
pub fn gzip_reader(data: &[u8]) {
    let Some((piece, input)) = split_spec(data) else { return };
    let whole = run(GzipDecoder::new(), input, 0);
    let pieces = run(GzipDecoder::new(), input, piece);
    assert_same(&whole, &pieces);
    if let Ok(ours) = &whole {
        // Zero padding after the last member is ours to accept; flate2 reads members only.
        let members = &input[..input.len() - input.iter().rev().take_while(|&&b| b == 0).count()];
        let mut theirs = Vec::new();
        if flate2::read::MultiGzDecoder::new(members).read_to_end(&mut theirs).is_ok() {
            assert_eq!(ours, &theirs, "ours vs flate2");
        }
    }
    let encoded = run(GzipEncoder::with_threads(1 + (piece % 6) as u32, 1).unwrap(), input, piece).unwrap();
    assert_eq!(run(GzipDecoder::new(), &encoded, 0).unwrap(), input);
}

/// The .enc decryptor on arbitrary bytes (salt and IV included), and a round trip through
/// the encryptor; a wrong password never passes for the right one.
pub fn envelope(data: &[u8]) {
    let Some((piece, input)) = split_spec(data) else { return };
    assert_same(&decrypt(input, 0), &decrypt(input, piece));
    let level = 1 + (piece % 9) as u32;
    let sealed = run(Encryptor::with_shared_key(shared_key(), level).unwrap(), input, piece).unwrap();
    assert_eq!(decrypt(&sealed, 0).unwrap(), input);
    if let Ok(plain) = run(Decryptor::with_cache("wrong", wrong_password_cache()), &sealed, piece) {
        assert_ne!(plain, input, "a wrong password decrypted the envelope");
    }
}

/// What an upload delivers to the importer's callbacks: (name, bytes), the dump as "db.txt".
/// The same decisions and pipelines as lib/app-import.js: detection by content, the
/// whole-archive envelope, the strict extract, routing, per-entry envelopes.
fn import(input: &[u8], piece: usize) -> Result<Vec<(String, Vec<u8>)>> {
    let archive = match app::detect(&input[..input.len().min(HEAD_LEN)]) {
        Format::Empty => return Err(Error::new("E_EMPTY_INPUT", "empty")),
        Format::Db => return Ok(vec![("db.txt".into(), input.to_vec())]),
        Format::Gzip | Format::Tar => run(Extractor::new(GzipMode::Auto, Mode::Strict, limits()), input, piece)?,
        Format::Encrypted => {
            let plain = decrypt(input, piece)?;
            if app::detect_decrypted(&plain[..plain.len().min(HEAD_LEN)]) != Format::Tar {
                return Ok(vec![("db.txt".into(), plain)]);
            }
            run(Extractor::new(GzipMode::Never, Mode::Strict, limits()), &plain, piece)?
        }
    };
    let mut delivered = Vec::new();
    let mut saw_db = false;
    let mut events = merge(archive).into_iter().peekable();
    while let Some(event) = events.next() {
        let Event::Header(header) = event else { continue };
        let data = match events.next_if(|e| matches!(e, Event::Data(_))) {
            Some(Event::Data(d)) => d,
            _ => Vec::new(),
        };
        let (name, encrypted) = match app::route(&header.name, header.typeflag == b'5') {
            Route::Skip => continue,
            Route::Plugin => return Err(Error::new("E_IS_PLUGIN", "plugin")),
            Route::Db { encrypted } => {
                saw_db = true;
                ("db.txt".to_string(), encrypted)
            }
            Route::File { name, encrypted } => (name, encrypted),
        };
        assert!(check_path(&name, &limits()).is_ok(), "{name:?} reached a callback");
        let bytes = if encrypted { decrypt(&data, piece)? } else { data };
        delivered.push((name, bytes));
    }
    if !saw_db {
        return Err(Error::new("E_NO_DB_FILE", "no db"));
    }
    Ok(delivered)
}

/// An upload through the importer: never a panic, the same outcome in any cut, and every
/// name that reaches a callback passes the path grammar.
pub fn app_import(data: &[u8]) {
    let Some((piece, input)) = split_spec(data) else { return };
    assert_same(&import(input, 0), &import(input, piece));
}

/// One fuzz target's check.
pub type Check = fn(&[u8]);

/// Every check, by target name, for the replay of saved findings.
pub const TARGETS: [(&str, Check); 4] =
    [("tar_reader", tar_reader), ("gzip_reader", gzip_reader), ("envelope", envelope), ("app_import", app_import)];
