//! Every committed seed and regression input, through the targets' bodies, without libFuzzer:
//! `cargo test --release` in `fuzz/`.

use arbitrary::{Arbitrary, Unstructured};
use cow_state_table_fuzz::{decode, roundtrip, schedules, stream_decode, table_ops};
use std::fs;
use std::path::Path;

fn each(target: &str, f: impl Fn(&[u8])) {
    let mut n = 0;
    for dir in ["seeds", "regressions"] {
        let Ok(entries) = fs::read_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join(dir).join(target)) else { continue };
        for entry in entries {
            let path = entry.unwrap().path();
            let bytes = fs::read(&path).unwrap();
            eprintln!("{}", path.display());
            f(&bytes);
            n += 1;
        }
    }
    assert!(n > 0, "no seeds for {target}");
}

#[test]
fn table_ops_seeds() {
    each("table_ops", |b| {
        if let Ok(input) = table_ops::Input::arbitrary_take_rest(Unstructured::new(b)) {
            table_ops::fuzz(&input);
        }
    });
}

#[test]
fn checkpoint_decode_seeds() {
    each("checkpoint_decode", decode::fuzz);
}

#[test]
fn checkpoint_roundtrip_seeds() {
    each("checkpoint_roundtrip", |b| {
        if let Ok(input) = roundtrip::Input::arbitrary_take_rest(Unstructured::new(b)) {
            roundtrip::fuzz(&input);
        }
    });
}

#[test]
fn schedules_seeds() {
    each("schedules", schedules::fuzz);
}

#[test]
fn stream_decode_seeds() {
    each("stream_decode", stream_decode::fuzz);
}
