//! Micro-benchmarks of the pure core: `cargo bench` (HTML reports in target/criterion).
//! The end-to-end comparison with the JavaScript pipeline is `npm run bench`.

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};

use backup_native::envelope::{Decryptor, Encryptor};
use backup_native::extract::{Extractor, GzipMode};
use backup_native::gzip::{GzipDecoder, GzipEncoder};
use backup_native::pack::{PackOptions, Packer};
use backup_native::policy::{Limits, Mode};
use backup_native::tar::Header;
use backup_native::transform::{Pump, Transform};

const MIB: usize = 1 << 20;

/// An app dump's shape: ndjson rows with pseudo-random ids, revisions and amounts.
fn ndjson(len: usize) -> Vec<u8> {
    let mut x: u64 = 42;
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    let mut out = Vec::with_capacity(len + 256);
    let mut i = 0;
    while out.len() < len {
        let notes = "lorem ipsum dolor sit amet ".repeat(1 + i % 4);
        let row = format!(
            "{{\"_id\":\"ro_ta_{}\",\"_rev\":\"1-{:x}\",\"name\":\"Row {i}\",\"amount\":{},\"notes\":\"{notes}\"}}\n",
            next() % 1_000_000_000,
            next() % 1_000_000_000_000,
            next() % 100_000_000
        );
        out.extend_from_slice(row.as_bytes());
        i += 1;
    }
    out.truncate(len);
    out
}

/// Like a JPEG or ciphertext: does not compress.
fn noise(len: usize) -> Vec<u8> {
    let mut x: u64 = 7;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

/// Feeds `input` in 256 KiB calls, as the JS side does.
fn run<T: Transform<Out = Vec<u8>>>(t: T, input: &[u8]) -> usize {
    let mut pump = Pump::new(t);
    let mut n = 0;
    for piece in input.chunks(256 * 1024) {
        n += pump.push(piece).unwrap().len();
        while pump.has_more() {
            n += pump.step().unwrap().len();
        }
    }
    n += pump.end().unwrap().len();
    while pump.has_more() {
        n += pump.step().unwrap().len();
    }
    n
}

fn gzip(c: &mut Criterion) {
    let text = ndjson(16 * MIB);
    let random = noise(16 * MIB);
    let mut g = c.benchmark_group("gzip");
    g.sample_size(10).throughput(Throughput::Bytes(text.len() as u64));
    g.bench_function("deflate level 6, ndjson, 1 thread", |b| b.iter(|| run(GzipEncoder::with_threads(6, 1).unwrap(), &text)));
    g.bench_function("deflate level 6, ndjson, all threads", |b| b.iter(|| run(GzipEncoder::new(6).unwrap(), &text)));
    g.bench_function("deflate level 1, ndjson, all threads", |b| b.iter(|| run(GzipEncoder::new(1).unwrap(), &text)));
    g.bench_function("deflate level 6, incompressible (stored)", |b| b.iter(|| run(GzipEncoder::new(6).unwrap(), &random)));
    let gz = Pump::new(GzipEncoder::new(6).unwrap()).run_all(&text).unwrap();
    g.bench_function("inflate, ndjson", |b| b.iter(|| run(GzipDecoder::new(), &gz)));
    g.finish();
}

fn envelope(c: &mut Criterion) {
    let text = ndjson(16 * MIB);
    let mut g = c.benchmark_group("envelope");
    g.sample_size(10).throughput(Throughput::Bytes(text.len() as u64));
    // AES-CTR around gzip that is already done, without the PBKDF2 of the setup.
    let gz = Pump::new(GzipEncoder::new(6).unwrap()).run_all(&text).unwrap();
    g.bench_function("AES-256-CTR around gzip", |b| {
        b.iter_batched(|| Encryptor::around_gzip("pw").unwrap(), |e| run(e, &gz), BatchSize::LargeInput)
    });
    let sealed = Pump::new(Encryptor::new("pw", 6).unwrap()).run_all(&text).unwrap();
    g.bench_function("open (PBKDF2, AES, inflate)", |b| b.iter(|| run(Decryptor::new("pw"), &sealed)));
    g.finish();
}

/// A tar of `files`, gzipped at `level` if given.
fn pack(files: &[(String, Vec<u8>)], level: Option<u32>) -> Vec<u8> {
    let mut p = Packer::new(PackOptions { gzip: level, ..Default::default() }).unwrap();
    let mut out = Vec::new();
    for (name, data) in files {
        let header = Header { name: name.clone(), typeflag: b'0', size: data.len() as u64, mode: 0o644, ..Default::default() };
        out.extend(p.begin(header, true).unwrap());
        out.extend(p.write(data).unwrap());
        out.extend(p.end().unwrap());
    }
    out.extend(p.finalize().unwrap());
    while p.has_more() {
        out.extend(p.step().unwrap());
    }
    out
}

/// Extracts `input` given whole; returns the number of events.
fn extract(input: &[u8]) -> usize {
    let mut pump = Pump::new(Extractor::new(GzipMode::Auto, Mode::Strict, Limits::default()));
    let mut events = pump.push(input).unwrap().len();
    while pump.has_more() {
        events += pump.step().unwrap().len();
    }
    events + pump.end().unwrap().len()
}

fn tar(c: &mut Criterion) {
    let files: Vec<(String, Vec<u8>)> = (0..2000).map(|i| (format!("chunks/c{i}.json"), ndjson(2000 + i % 3000))).collect();
    let total: usize = files.iter().map(|(_, d)| d.len()).sum();
    let mut g = c.benchmark_group("tar");
    g.sample_size(10).throughput(Throughput::Bytes(total as u64));
    g.bench_function("pack 2000 small files", |b| b.iter(|| pack(&files, None).len()));
    let plain = pack(&files, None);
    let gzipped = pack(&files, Some(6));
    g.bench_function("extract 2000 small files (strict policy)", |b| b.iter(|| extract(&plain)));
    g.bench_function("extract 2000 small files, gzipped", |b| b.iter(|| extract(&gzipped)));
    // An app's large entries: most of an import's bytes.
    let large = vec![("db.txt".to_string(), ndjson(32 * MIB)), ("attachments/a.jpg".to_string(), noise(16 * MIB))];
    g.throughput(Throughput::Bytes(48 * MIB as u64));
    let gzipped = pack(&large, Some(6));
    g.bench_function("extract a 32 MiB dump and 16 MiB of attachments, gzipped", |b| b.iter(|| extract(&gzipped)));
    g.finish();
}

criterion_group!(benches, gzip, envelope, tar);
criterion_main!(benches);
