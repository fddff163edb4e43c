//! Every input the fuzzers ever failed on (`fuzz/findings/<target>/`), replayed through the
//! same checks the fuzz targets run.

#[path = "../fuzz/src/lib.rs"]
mod checks;

#[test]
fn every_saved_fuzz_finding_passes_its_check() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/findings");
    let mut replayed = 0;
    for (target, check) in checks::TARGETS {
        let Ok(dir) = std::fs::read_dir(root.join(target)) else { continue };
        for file in dir {
            let path = file.unwrap().path();
            let input = std::fs::read(&path).unwrap();
            if std::panic::catch_unwind(|| check(&input)).is_err() {
                panic!("{target}: {} fails again", path.display());
            }
            replayed += 1;
        }
    }
    assert!(replayed > 0, "no findings under {}", root.display());
}
