//! Core pipelines fed whole, one byte at a time and in uneven splits must agree.

use std::io::{Read, Write};

use backup_native::envelope::{Decryptor, Encryptor};
use backup_native::error::{Error, Result};
use backup_native::extract::{Extractor, GzipMode, MAX_EVENTS};
use backup_native::gzip::{GzipDecoder, GzipEncoder};
use backup_native::pack::{PackOptions, Packer};
use backup_native::policy::{Limits, Mode};
use backup_native::tar::{Event, Header};
use backup_native::transform::{Output, Pump, Transform, OUTPUT_CAP};
use rand::{rngs::SmallRng, Rng, SeedableRng};

fn sample(len: usize, seed: u64) -> Vec<u8> {
    let mut rng = SmallRng::seed_from_u64(seed);
    (0..len).map(|i| if i % 3 == 0 { rng.gen() } else { b'a' + (i % 7) as u8 }).collect()
}

/// Runs `input` through a fresh transform in pieces given by `cuts`.
fn feed<T: Transform>(make: &dyn Fn() -> T, input: &[u8], piece: &mut dyn FnMut(usize) -> usize) -> Result<T::Out>
where
    T::Out: Extend<<T::Out as IntoIterator>::Item> + IntoIterator,
{
    let mut pump = Pump::new(make());
    let mut out = T::Out::default();
    let mut pos = 0;
    while pos < input.len() {
        let n = piece(input.len() - pos).min(input.len() - pos);
        out.extend(pump.push(&input[pos..pos + n])?);
        while pump.has_more() {
            out.extend(pump.step()?);
        }
        pos += n;
    }
    out.extend(pump.end()?);
    while pump.has_more() {
        out.extend(pump.step()?);
    }
    Ok(out)
}

/// The same input whole, bytewise and in random pieces; all three results must be equal.
fn all_splits<T: Transform>(make: &dyn Fn() -> T, input: &[u8]) -> Result<T::Out>
where
    T::Out: Extend<<T::Out as IntoIterator>::Item> + IntoIterator + PartialEq + std::fmt::Debug + Normalize,
{
    let whole = feed(make, input, &mut |rest| rest).map(Normalize::normalize);
    let mut rng = SmallRng::seed_from_u64(input.len() as u64);
    let random = feed(make, input, &mut |rest| rng.gen_range(1..=rest.min(9000))).map(Normalize::normalize);
    let bytewise =
        if input.len() <= 200_000 { Some(feed(make, input, &mut |_| 1).map(Normalize::normalize)) } else { None };
    match (&whole, &random) {
        (Ok(a), Ok(b)) => assert_eq!(a, b, "whole vs random split"),
        (Err(a), Err(b)) => assert_eq!(a.code, b.code, "whole vs random split"),
        _ => panic!("whole {:?} vs random {:?}", whole.as_ref().err(), random.as_ref().err()),
    }
    if let Some(bytewise) = bytewise {
        match (&whole, &bytewise) {
            (Ok(a), Ok(b)) => assert_eq!(a, b, "whole vs bytewise"),
            (Err(a), Err(b)) => assert_eq!(a.code, b.code, "whole vs bytewise"),
            _ => panic!("whole {:?} vs bytewise {:?}", whole.as_ref().err(), bytewise.as_ref().err()),
        }
    }
    whole
}

/// Output in a form that does not depend on where steps ended: data events merged.
trait Normalize {
    fn normalize(self) -> Self;
}

impl Normalize for Vec<u8> {
    fn normalize(self) -> Self {
        self
    }
}

impl Normalize for Vec<Event> {
    fn normalize(self) -> Self {
        let mut out: Vec<Event> = Vec::new();
        for event in self {
            match (out.last_mut(), event) {
                (Some(Event::Data(last)), Event::Data(more)) => last.extend(more),
                (_, event) => out.push(event),
            }
        }
        out
    }
}

fn gzip(data: &[u8], level: u32) -> Vec<u8> {
    Pump::new(GzipEncoder::new(level).unwrap()).run_all(data).unwrap()
}

#[test]
fn gzip_round_trip_and_flate2_interop() {
    for len in [0, 1, 511, 70_000, 3 << 20] {
        let data = sample(len, 1);
        let ours = gzip(&data, 6);
        let mut back = Vec::new();
        flate2::read::MultiGzDecoder::new(&ours[..]).read_to_end(&mut back).unwrap();
        assert_eq!(back, data);

        let mut theirs = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::new(9));
        theirs.write_all(&data).unwrap();
        let theirs = theirs.finish().unwrap();
        let mut two_members = theirs.clone();
        two_members.extend_from_slice(&ours);
        two_members.extend_from_slice(&[0; 100]);
        let decoded = all_splits(&GzipDecoder::new, &two_members).unwrap();
        assert_eq!(decoded.len(), 2 * len);
        assert!(decoded[..len] == data[..] && decoded[len..] == data[..]);
    }
}

#[test]
fn gzip_errors_do_not_depend_on_splits() {
    let gz = gzip(&sample(100_000, 2), 6);
    let mut crc = gz.clone();
    let n = crc.len();
    crc[n - 8] ^= 1;
    let mut garbage = gz.clone();
    garbage.extend_from_slice(&[0, 0, 1]);
    for (input, code) in [
        (crc, "E_GZIP_CRC"),
        (garbage, "E_GZIP_TRAILING_GARBAGE"),
        (gz[..n - 1].to_vec(), "E_TRUNCATED"),
        (b"not gzip".to_vec(), "E_NOT_GZIP"),
        (vec![], "E_EMPTY_INPUT"),
    ] {
        assert_eq!(all_splits(&GzipDecoder::new, &input).unwrap_err().code, code);
    }
}

#[test]
fn run_up_to_stops_past_its_bound_whatever_the_input_expands_to() {
    // 64 MiB of zeros sealed into a few KiB: opened up to a bound, it stops a step past it.
    let zeros = vec![0u8; 64 << 20];
    let env = Pump::new(Encryptor::new("pw", 6).unwrap()).run_all(&zeros).unwrap();
    assert!(env.len() < 256 << 10);
    assert_eq!(Pump::new(Decryptor::new("pw")).run_up_to(&env, 1 << 20).unwrap(), None);
    let data = sample(300_000, 5);
    let env = Pump::new(Encryptor::new("pw", 6).unwrap()).run_all(&data).unwrap();
    assert_eq!(Pump::new(Decryptor::new("pw")).run_up_to(&env, data.len()).unwrap().as_deref(), Some(&data[..]));
    assert_eq!(Pump::new(Decryptor::new("pw")).run_up_to(&env, data.len() - 1).unwrap(), None);
    let err = Pump::new(Decryptor::new("wrong")).run_up_to(&env, data.len()).unwrap_err();
    assert_eq!(err.code, "E_BAD_PASSWORD");
    let err = Pump::new(Decryptor::new("pw")).run_up_to(&env[..env.len() - 1], data.len()).unwrap_err();
    assert_eq!(err.code, "E_TRUNCATED");
}

#[test]
fn envelope_round_trip_wrong_password_and_truncation() {
    for len in [0, 1, 16, 65_536, 1 << 20] {
        let data = sample(len, 3);
        let env = Pump::new(Encryptor::new("pässword", 6).unwrap()).run_all(&data).unwrap();
        assert_eq!(all_splits(&|| Decryptor::new("pässword"), &env).unwrap(), data);
        let err = all_splits(&|| Decryptor::new("wrong"), &env).unwrap_err();
        assert_eq!((err.code, err.message.as_str()), ("E_BAD_PASSWORD", "File cannot be imported"));
    }
    let env = Pump::new(Encryptor::with_salt_iv("pw", 6, [7; 32]).unwrap()).run_all(b"hello world").unwrap();
    for cut in 0..env.len() {
        let err = Pump::new(Decryptor::new("pw")).run_all(&env[..cut]).unwrap_err();
        assert_eq!(err.code, if cut < 32 { "E_ENC_HEADER_TRUNCATED" } else { "E_TRUNCATED" }, "cut {cut}");
    }
}

fn header(name: &str, size: u64) -> Header {
    Header { name: name.into(), typeflag: b'0', size, mode: 0o644, mtime: 1_700_000_000, ..Default::default() }
}

fn pack(entries: &[(Header, Option<Vec<u8>>)], gzip: Option<u32>) -> Vec<u8> {
    pack_with(entries, PackOptions { gzip, stage_memory: 1000, ..Default::default() })
}

fn pack_with(entries: &[(Header, Option<Vec<u8>>)], options: PackOptions) -> Vec<u8> {
    let mut p = Packer::new(options).unwrap();
    let mut out = Vec::new();
    for (h, data) in entries {
        let known = data.as_ref().is_none_or(|d| d.len() as u64 == h.size);
        out.extend(p.begin(h.clone(), known).unwrap());
        if let Some(data) = data {
            for piece in data.chunks(777) {
                out.extend(p.write(piece).unwrap());
            }
        }
        out.extend(p.end().unwrap());
        while p.has_more() {
            out.extend(p.step().unwrap());
        }
    }
    out.extend(p.finalize().unwrap());
    out
}

fn extractor(mode: Mode) -> impl Fn() -> Extractor {
    move || Extractor::new(GzipMode::Auto, mode, Limits::default())
}

fn listing(events: &[Event]) -> Vec<(String, u64, usize)> {
    let mut out = Vec::new();
    for e in events {
        match e {
            Event::Header(h) => out.push((h.name.clone(), h.size, 0)),
            Event::Data(d) => out.last_mut().unwrap().2 += d.len(),
            _ => {}
        }
    }
    out
}

#[test]
fn pack_extract_round_trip_in_every_split() {
    let long = format!("{}/file-ü.txt", "dir".repeat(60));
    let entries = vec![
        (header("db.txt", 0), Some(sample(5000, 4))),
        (header(&long, 3), Some(b"abc".to_vec())),
        (header("empty", 0), Some(vec![])),
        (Header { typeflag: b'5', ..header("folder", 0) }, None),
    ];
    for gzip in [None, Some(1)] {
        let bytes = pack(&entries, gzip);
        let events = all_splits(&extractor(Mode::Strict), &bytes).unwrap();
        assert_eq!(
            listing(&events),
            vec![("db.txt".into(), 5000, 5000), (long.clone(), 3, 3), ("empty".into(), 0, 0), ("folder/".into(), 0, 0)]
        );
        assert_eq!(events.last(), Some(&Event::End));
    }
}

#[test]
fn large_entries_and_member_boundaries_inside_them_in_every_split() {
    // Entries larger than one step's output, sizes around 64 KiB, incompressible data (stored
    // blocks) and a second gzip member starting inside an entry's data.
    let mut rng = SmallRng::seed_from_u64(7);
    let noise: Vec<u8> = (0..200_000).map(|_| rng.gen()).collect();
    let entries = vec![
        (header("small", 700), Some(sample(700, 1))),
        (header("large", 3 << 20), Some(sample(3 << 20, 2))),
        (header("noise", noise.len() as u64), Some(noise)),
        (header("below", 65_535), Some(sample(65_535, 3))),
        (header("at", 65_536), Some(sample(65_536, 4))),
        (header("tiny", 1), Some(b"x".to_vec())),
        (header("above", 70_001), Some(sample(70_001, 5))),
    ];
    let tar = pack(&entries, None);
    let expected = all_splits(&extractor(Mode::Strict), &tar).unwrap();
    let sizes: Vec<u64> = entries.iter().map(|(h, _)| h.size).collect();
    assert_eq!(listing(&expected).iter().map(|e| e.2 as u64).collect::<Vec<_>>(), sizes);
    let cut = 1 << 20; // inside "large"'s data
    let members = [gzip(&tar[..cut], 6), gzip(&tar[cut..], 1)].concat();
    for archive in [pack(&entries, Some(6)), members] {
        assert_eq!(all_splits(&extractor(Mode::Strict), &archive).unwrap(), expected);
    }
}

#[test]
fn an_entry_is_one_piece_per_step_and_a_gzip_step_ends_near_the_cap() {
    // Inflated straight into its data event, an entry's bytes in one step stay one piece (a
    // reader of its stream takes them without joining two), and a step ends less than one
    // piece past the cap, whatever the input's chunks.
    let mut rng = SmallRng::seed_from_u64(9);
    let noise: Vec<u8> = (0..3_000_000).map(|_| rng.gen()).collect();
    let mut entries: Vec<_> = (0..40u64).map(|i| (header(&format!("s{i}"), 100 + i * 3000), Some(sample(100 + i as usize * 3000, i)))).collect();
    entries.insert(20, (header("large", 5 << 20), Some(sample(5 << 20, 2))));
    entries.push((header("noise", noise.len() as u64), Some(noise)));
    let tar = pack(&entries, None);
    let expected = feed(&extractor(Mode::Strict), &tar, &mut |rest| rest).unwrap().normalize();
    for archive in [pack(&entries, Some(6)), pack(&entries, Some(1))] {
        for piece in [archive.len(), 1 << 20, 65_536, 7_000] {
            let mut pump = Pump::new(extractor(Mode::Strict)());
            let mut steps = Vec::new();
            for chunk in archive.chunks(piece) {
                steps.push(pump.push(chunk).unwrap());
                while pump.has_more() {
                    steps.push(pump.step().unwrap());
                }
            }
            steps.push(pump.end().unwrap());
            while pump.has_more() {
                steps.push(pump.step().unwrap());
            }
            for step in &steps {
                assert!(!step.windows(2).any(|pair| matches!(pair, [Event::Data(_), Event::Data(_)])), "two pieces of one entry in a step");
                assert!(step.weight() < 2 * OUTPUT_CAP, "a step of {} bytes", step.weight());
            }
            assert_eq!(steps.into_iter().flatten().collect::<Vec<_>>().normalize(), expected, "pieces of {piece}");
        }
    }
}

#[test]
fn steps_of_many_small_entries_are_bounded_by_their_number() {
    // 3000 small entries: one push of them all would make a step of 9000 events (4.5 MB of
    // tar); the parser stops at MAX_EVENTS, past it by one block's events at most.
    let entries: Vec<_> = (0..3000u64).map(|i| (header(&format!("f{i}.json"), 10 + i % 500), Some(sample(10 + i as usize % 500, i)))).collect();
    let bound = MAX_EVENTS + 2;
    for gzip in [None, Some(6)] {
        let archive = pack(&entries, gzip);
        let mut pump = Pump::new(extractor(Mode::Strict)());
        let mut steps = vec![pump.push(&archive).unwrap()];
        steps.push(pump.end().unwrap());
        while pump.has_more() {
            steps.push(pump.step().unwrap());
        }
        assert!(steps.iter().all(|s| s.len() <= bound), "largest step {:?}", steps.iter().map(Vec::len).max());
        assert!(steps.len() >= 9000 / bound, "{} steps", steps.len());
        let events: Vec<Event> = steps.into_iter().flatten().collect();
        assert_eq!(events.normalize(), all_splits(&extractor(Mode::Strict), &archive).unwrap());
    }
}

#[test]
fn staged_entries_are_spliced_into_one_gzip_member() {
    // Entries of unknown size, deflated while staged (spilling past 1000 bytes) and spliced
    // between known-size ones: one member, read by flate2's single-member decoder.
    let text: Vec<u8> = (0..3_000_000u32).flat_map(|i| format!("{{\"n\":{}}}\n", i % 1009).into_bytes()).collect();
    let mut rng = SmallRng::seed_from_u64(9);
    let noise: Vec<u8> = (0..1_500_000).map(|_| rng.gen()).collect();
    let unknown = |name: &str, data: &[u8]| (header(name, 0), Some(data.to_vec()));
    let entries = vec![
        (header("first", 5), Some(b"first".to_vec())),
        unknown("db.txt", &text),
        unknown("empty", b""),
        unknown("tiny", b"x"),
        (header("known", noise.len() as u64), Some(noise.clone())),
        unknown("noise.enc", &noise),
        unknown("db-again.txt", &text[..70_000]),
    ];
    for level in [1, 6, 9] {
        let gz = pack(&entries, Some(level));
        let mut tar = Vec::new();
        flate2::read::GzDecoder::new(&gz[..]).read_to_end(&mut tar).unwrap();
        let plain = pack(&entries, None);
        assert!(tar == plain, "level {level}: the gzip pack holds the same tar as the plain pack");
        assert!(gz.len() < plain.len() / 2, "level {level}: {} bytes", gz.len());
    }
}

#[test]
fn a_sealed_pack_opens_to_the_gzip_pack_it_wraps() {
    let text: Vec<u8> = (0..400_000u32).flat_map(|i| format!("{{\"n\":{}}}\n", i % 1009).into_bytes()).collect();
    let entries = vec![(header("first", 5), Some(b"first".to_vec())), (header("db.txt", 0), Some(text)), (header("last", 1), Some(b"x".to_vec()))];
    let sealed = pack_with(&entries, PackOptions { gzip: Some(6), stage_memory: 1000, password: Some("pw".into()), ..Default::default() });
    let opened = Pump::new(Decryptor::new("pw")).run_all(&sealed).unwrap();
    assert!(opened == pack(&entries, None), "the envelope holds the plain tar");
    assert_eq!(Pump::new(Decryptor::new("wrong")).run_all(&sealed).unwrap_err().code, "E_BAD_PASSWORD");
    let unsealed = Packer::new(PackOptions { password: Some("pw".into()), ..Default::default() });
    assert_eq!(unsealed.err().map(|e| e.code), Some("E_INVALID_ARGUMENT"), "an envelope needs gzip");
}

#[test]
fn size_mismatch_is_an_error() {
    let mut p = Packer::new(PackOptions::default()).unwrap();
    p.begin(header("a", 2), true).unwrap();
    assert_eq!(p.write(b"abc").unwrap_err().code, "E_SIZE_MISMATCH");
    let mut p = Packer::new(PackOptions::default()).unwrap();
    p.begin(header("a", 4), true).unwrap();
    p.write(b"abc").unwrap();
    assert_eq!(p.end().unwrap_err().code, "E_SIZE_MISMATCH");
}

#[test]
fn an_entry_written_in_pieces_packs_as_written_whole() {
    let data: Vec<u8> = (0..3_000_017u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect();
    let entries = [(header("known", data.len() as u64), Some(data.clone())), (header("staged", 0), Some(data.clone()))];
    for gzip in [None, Some(6)] {
        let whole = pack(&entries, gzip);
        let mut p = Packer::new(PackOptions { gzip, stage_memory: 1000, ..Default::default() }).unwrap();
        let mut out = Vec::new();
        for (h, _) in &entries {
            out.extend(p.begin(h.clone(), h.size > 0).unwrap());
            // Pieces of uneven sizes, an empty one among them, several per call.
            let pieces: Vec<&[u8]> = [0, 1, 700, 0, 65_536, 300_001, 1 << 20].iter().scan(0, |at, &n| {
                let piece = &data[*at..(*at + n).min(data.len())];
                *at += piece.len();
                Some(piece)
            }).collect();
            let rest = &data[pieces.iter().map(|p| p.len()).sum::<usize>()..];
            out.extend(p.write_pieces(&pieces[..4]).unwrap());
            out.extend(p.write_pieces(&pieces[4..]).unwrap());
            out.extend(p.write_pieces(&[rest]).unwrap());
            out.extend(p.end().unwrap());
            while p.has_more() {
                out.extend(p.step().unwrap());
            }
        }
        out.extend(p.finalize().unwrap());
        assert!(out == whole, "gzip {gzip:?}: {} bytes against {}", out.len(), whole.len());
    }
    let mut p = Packer::new(PackOptions::default()).unwrap();
    p.begin(header("a", 5), true).unwrap();
    assert_eq!(p.write_pieces(&[b"abc", b"def"]).unwrap_err().code, "E_SIZE_MISMATCH", "the size counts every piece");
}

/// A raw header block with a valid checksum.
fn block(name: &str, typeflag: u8, size: &[u8]) -> Vec<u8> {
    let mut b = vec![0u8; 512];
    b[..name.len()].copy_from_slice(name.as_bytes());
    b[100..108].copy_from_slice(b"0000644\0");
    b[124..124 + size.len()].copy_from_slice(size);
    b[136..148].copy_from_slice(b"00000000000\0");
    b[156] = typeflag;
    b[257..265].copy_from_slice(b"ustar\x0000");
    b[148..156].fill(b' ');
    let sum: u32 = b.iter().map(|&x| x as u32).sum();
    b[148..156].copy_from_slice(format!("{sum:06o}\0 ").as_bytes());
    b
}

fn octal(n: usize) -> Vec<u8> {
    format!("{n:011o}\0").into_bytes()
}

fn with_data(mut header: Vec<u8>, data: &[u8]) -> Vec<u8> {
    header.extend_from_slice(data);
    header.resize(header.len() + (512 - data.len() % 512) % 512, 0);
    header
}

fn archive(parts: &[Vec<u8>]) -> Vec<u8> {
    let mut out: Vec<u8> = parts.concat();
    out.extend_from_slice(&[0; 1024]);
    out
}

fn code(input: &[u8], mode: Mode) -> &'static str {
    all_splits(&extractor(mode), input).map(|_| "ok").unwrap_or_else(|e: Error| e.code)
}

#[test]
fn hostile_framing() {
    let file = with_data(block("a", b'0', &octal(3)), b"abc");
    let pax = |records: &[u8]| with_data(block("PaxHeader", b'x', &octal(records.len())), records);
    let long = |kind: u8, name: &[u8]| with_data(block("././@LongLink", kind, &octal(name.len())), name);

    assert_eq!(code(&archive(std::slice::from_ref(&file)), Mode::Strict), "ok");
    // PAX size wins over the ustar size: the data is read with the PAX size.
    let pax_size = [pax(b"12 size=512\n"), with_data(block("a", b'0', &octal(3)), &[b'x'; 512])].concat();
    assert_eq!(code(&archive(&[pax_size]), Mode::Strict), "ok");
    for (parts, expected) in [
        (vec![pax(b"9 path=a\n"), pax(b"9 path=b\n"), file.clone()], "E_AMBIGUOUS_HEADER"),
        (vec![pax(b"9 path=a\n"), long(b'L', b"b\0"), file.clone()], "E_AMBIGUOUS_HEADER"),
        (vec![long(b'L', b"b\0"), long(b'L', b"c\0"), file.clone()], "E_AMBIGUOUS_HEADER"),
        (vec![pax(b"9 path=a\n")], "E_PAX_INVALID"),
        (vec![pax(b"11 path=a\n"), file.clone()], "E_PAX_INVALID"),
        (vec![pax(b"11 size=-1\n"), file.clone()], "E_PAX_INVALID"),
        (vec![pax(b"12 path=a\0b\n"), file.clone()], "E_PAX_INVALID"),
        (vec![with_data(block("PaxHeader", b'x', &octal(2 << 20)), b"")], "E_META_TOO_LARGE"),
        (vec![block("d", b'5', &octal(10)), file.clone()], "E_HEADER_INVALID"),
        (vec![block("a", b'0', &[0xff; 12]), file.clone()], "E_HEADER_INVALID"),
        (vec![file.clone(), vec![0; 512], file.clone()], "E_HEADER_INVALID"),
    ] {
        assert_eq!(code(&archive(&parts), Mode::Permissive), expected, "{expected}");
    }
    let mut checksum = file.clone();
    checksum[0] = b'b';
    assert_eq!(code(&archive(&[file.clone(), checksum]), Mode::Permissive), "E_HEADER_CHECKSUM");
    assert_eq!(code(&file, Mode::Permissive), "E_MISSING_EOA");
    assert_eq!(code(&[archive(std::slice::from_ref(&file)), b"x".to_vec()].concat(), Mode::Permissive), "E_TRAILING_DATA");
    assert_eq!(code(&[archive(std::slice::from_ref(&file)), vec![0; 9000]].concat(), Mode::Permissive), "ok");
    let traversal = with_data(block("../x", b'0', &octal(1)), b"x");
    assert_eq!(code(&archive(std::slice::from_ref(&traversal)), Mode::Strict), "E_PATH_TRAVERSAL");
    assert_eq!(code(&archive(&[traversal]), Mode::Permissive), "ok");
}

#[test]
fn a_gzip_bomb_stops_at_the_budget() {
    // 1 GiB of zeros as one tar entry, compressed to about a megabyte, extracted under a 64 MiB budget.
    let mut gz = Pump::new(GzipEncoder::new(9).unwrap());
    let mut bomb = gz.push(&block("zeros", b'0', &octal(1 << 30))).unwrap();
    let zeros = vec![0u8; 1 << 20];
    for _ in 0..1024 {
        bomb.extend(gz.push(&zeros).unwrap());
    }
    bomb.extend(gz.push(&[0; 1024]).unwrap());
    bomb.extend(gz.end().unwrap());
    let limits = Limits { max_total: 64 << 20, ..Limits::default() };
    let mut pump = Pump::new(Extractor::new(GzipMode::Auto, Mode::Strict, limits));
    let mut err = None;
    for piece in bomb.chunks(64 * 1024) {
        let step = pump.push(piece).and_then(|_| {
            while pump.has_more() {
                pump.step()?;
            }
            Ok(())
        });
        if let Err(e) = step {
            err = Some(e);
            break;
        }
    }
    assert_eq!(err.unwrap().code, "E_LIMIT_BYTES");
}

#[test]
fn shared_key_envelopes_open_with_any_reader_and_the_key_cache() {
    use backup_native::envelope::{KeyCache, SharedKey};
    let shared = SharedKey::derive("pw").unwrap();
    let a = Pump::new(Encryptor::with_shared_key(&shared, 6).unwrap()).run_all(b"first file").unwrap();
    let b = Pump::new(Encryptor::with_shared_key(&shared, 6).unwrap()).run_all(b"second file").unwrap();
    assert_eq!(a[..16], b[..16], "one salt per export");
    assert_ne!(a[16..32], b[16..32], "a fresh IV per envelope");
    assert_eq!(Pump::new(Decryptor::new("pw")).run_all(&a).unwrap(), b"first file");
    let cache = std::sync::Arc::new(KeyCache::default());
    for (envelope, plain) in [(&a, &b"first file"[..]), (&b, &b"second file"[..])] {
        assert_eq!(Pump::new(Decryptor::with_cache("pw", cache.clone())).run_all(envelope).unwrap(), plain);
    }
    let err = Pump::new(Decryptor::with_cache("wrong", std::sync::Arc::new(KeyCache::default()))).run_all(&a).unwrap_err();
    assert_eq!(err.code, "E_BAD_PASSWORD");
}
