#![no_main]

use cow_state_table_fuzz::roundtrip::{fuzz, Input};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: Input| fuzz(&input));
