#!/usr/bin/env bash
# Coverage-guided fuzzing of the core with cargo-fuzz (libFuzzer), on stable Rust: the
# targets need no sanitizer runtime, so `-s none`.
#   fuzz/run.sh [seconds per target, default 600] [target...]
# Targets: tar_reader gzip_reader envelope app_import (default: all, one after another).
# Crashes land in fuzz/artifacts/<target>/; minimise them and save them under
# fuzz/findings/<target>/ so `cargo test` replays them (tests/fuzz_findings.rs).
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-600}
shift || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(tar_reader gzip_reader envelope app_import)

command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked
node fuzz/seed.js
cargo fuzz build -s none -O
for target in "${targets[@]}"; do
  mkdir -p "fuzz/corpus/$target" "fuzz/findings/$target"
  cargo fuzz run -s none -O "$target" "fuzz/corpus/$target" "fuzz/seeds/$target" "fuzz/findings/$target" -- \
    -max_total_time="$seconds" -max_len=65536 -rss_limit_mb=2048 -timeout=10 -print_final_stats=1
done
