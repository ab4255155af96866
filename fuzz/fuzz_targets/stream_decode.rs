#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| cow_state_table_fuzz::stream_decode::fuzz(data));
