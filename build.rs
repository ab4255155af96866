//! Planted protocol mutants (docs/MODEL_CHECKING.md, scripts/mutants.sh): `COW_MUTANT=<name>` sets
//! `--cfg cow_mutant="<name>"` for this crate only, so switching mutants rebuilds this crate and not its
//! dependencies (a `RUSTFLAGS='--cfg cow_mutant="<name>"'` build does the same but rebuilds everything).
//! Unset (every real build), this script emits nothing but its rerun condition.
//!
//! The script is kept out of the published package (Cargo.toml's `include` leaves it out, and `cargo package`
//! then writes `build = false`): a crate that depends on this one never runs it, so a stray `COW_MUTANT` in a
//! dependent's environment cannot plant a mutant there (`tests/package_manifest.rs`).

const MUTANTS: &[&str] = &[
    "relaxed-release",
    "skip-prefix-copy",
    "skip-state-copy",
    "free-too-early",
    "snapshot-skips-rehash-table",
    "chunk-in-place",
    "version-off-by-one",
    "rehash-relink",
    "retain-all-slots",
    // Snapshot::diff (docs/DESIGN.md, C2, C3).
    "diff-skips-changed-chunk",
    "diff-shared-as-changed",
    "diff-changed-as-shared",
    // The layers above the table (the `backend` suite of scripts/mutants.sh).
    "stream-crc-short",
    "incr-failed-advances-base",
    "restore-range-off-by-one",
    "merge-repeats-source",
    "rename-before-sync",
];

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-env-changed=COW_MUTANT");
    let Ok(m) = std::env::var("COW_MUTANT") else {
        return;
    };
    let m = m.trim().trim_start_matches("mutant-");
    if m.is_empty() {
        return;
    }
    assert!(
        MUTANTS.contains(&m),
        "COW_MUTANT={m:?} is not a planted mutant (one of {MUTANTS:?})"
    );
    println!("cargo:rustc-cfg=cow_mutant=\"{m}\"");
}
