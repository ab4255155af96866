//! How deep a `checkpoint_decode` corpus gets: `cargo +nightly run --release --example corpus_stats -- <dir>...`
//! counts the inputs whose header parses, whose identities match a serializer set, and whose bodies decode.

use cow_state_table::format::Checkpoint;
use cow_state_table_fuzz::decode;
use std::fs;

fn main() {
    let (mut total, mut parsed, mut matched, mut decoded, mut entries) = (0, 0, 0, 0, 0usize);
    for dir in std::env::args().skip(1) {
        for entry in fs::read_dir(&dir).unwrap() {
            let data = fs::read(entry.unwrap().path()).unwrap();
            total += 1;
            let Some((&mode, rest)) = data.split_first() else { continue };
            let mut bytes = rest.to_vec();
            decode::repair(mode, &mut bytes);
            let Ok(cp) = Checkpoint::parse(&bytes) else { continue };
            parsed += 1;
            macro_rules! try_set {
                ($s:expr) => {
                    let s = $s;
                    if cp.check_serializers(&s).is_ok() {
                        matched += 1;
                        if let Ok(v) = cp.read_all(&s) {
                            decoded += 1;
                            entries += v.len();
                        }
                    }
                };
            }
            try_set!(decode::model_serializers());
            try_set!(decode::string_serializers());
            try_set!(decode::option_serializers());
            try_set!(decode::bytes_serializers());
        }
    }
    println!("inputs {total}, header parses {parsed}, serializers match {matched}, bodies decode {decoded} ({entries} entries)");
}
