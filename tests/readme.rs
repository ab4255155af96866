//! The README may not drift from docs/: every measured figure it quotes (a number with a unit: µs, ns, ms, ×,
//! MiB, B/entry) must appear in docs/*.md or proofs/README.md, where the command and date that produced it are
//! recorded. (The README's Rust example is compiled and run as a doctest: `ReadmeDoctests` in src/lib.rs.)

const UNITS: [&str; 5] = [" µs", " ns", " ms", "×", " MiB"];

/// Figures in `text`: a run of digits, `.` and `,` directly followed by one of [`UNITS`].
fn figures(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let chars: Vec<(usize, char)> = text.char_indices().collect();
    let mut i = 0;
    while i < chars.len() {
        let (start, c) = chars[i];
        let boundary = i == 0 || !(chars[i - 1].1.is_alphanumeric() || chars[i - 1].1 == '.');
        if c.is_ascii_digit() && boundary {
            let mut j = i;
            while j < chars.len() && (chars[j].1.is_ascii_digit() || chars[j].1 == '.' || chars[j].1 == ',') {
                j += 1;
            }
            let end = chars.get(j).map_or(text.len(), |&(e, _)| e);
            let number = text[start..end].trim_end_matches(['.', ',']);
            let rest = &text[start + number.len()..];
            if let Some(unit) = UNITS.iter().find(|u| rest.starts_with(**u)) {
                out.push(format!("{number}{unit}"));
            }
            i = j;
        } else {
            i += 1;
        }
    }
    out
}

#[test]
fn every_readme_figure_is_in_the_docs() {
    let root = env!("CARGO_MANIFEST_DIR");
    let readme = std::fs::read_to_string(format!("{root}/README.md")).unwrap();
    let mut docs = String::new();
    for entry in std::fs::read_dir(format!("{root}/docs")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "md") {
            docs += &std::fs::read_to_string(path).unwrap();
        }
    }
    docs += &std::fs::read_to_string(format!("{root}/proofs/README.md")).unwrap_or_default();
    let found = figures(&readme);
    assert!(found.len() >= 20, "the extractor finds the README's figures: {found:?}");
    let missing: Vec<_> = found.iter().filter(|f| !docs.contains(f.as_str())).collect();
    assert!(missing.is_empty(), "README figures not found in docs/: {missing:?}");
}

#[test]
fn the_extractor_sees_units_and_ignores_plain_numbers() {
    assert_eq!(
        figures("a 2.84 µs pause, 1.36× / 1.20×, 1M entries, v2 12 ns."),
        vec!["2.84 µs", "1.36×", "1.20×", "12 ns"]
    );
}
