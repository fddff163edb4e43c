//! The .enc envelope on arbitrary bytes. The check is `backup_native_fuzz::envelope`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| backup_native_fuzz::envelope(data));
