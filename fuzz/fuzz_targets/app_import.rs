//! An upload through the importer on arbitrary bytes. The check is `backup_native_fuzz::app_import`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| backup_native_fuzz::app_import(data));
