//! The extract pipeline on arbitrary bytes. The check is `backup_native_fuzz::tar_reader`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| backup_native_fuzz::tar_reader(data));
