//! What the published package holds: `build.rs`, which turns the environment variable `COW_MUTANT` into a
//! planted mutant (`--cfg cow_mutant`), must stay out of it, so that a crate depending on this one never runs it
//! (`cargo package` writes `build = false` when the script is not included). In this repository the script stays
//! (scripts/mutants.sh switches mutants through it).

#[test]
fn the_build_script_that_plants_mutants_is_not_published() {
    let manifest = include_str!("../Cargo.toml");
    let include = manifest
        .lines()
        .find(|l| l.trim_start().starts_with("include"))
        .expect("Cargo.toml lists what the package includes");
    assert!(
        !include.contains("build.rs") && !include.contains("\"/**") && !include.contains("\"*"),
        "the package would include build.rs: {include}"
    );
    assert!(
        std::path::Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/build.rs")).exists(),
        "the repository keeps build.rs for scripts/mutants.sh"
    );
}
