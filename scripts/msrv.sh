#!/usr/bin/env bash
# Builds the library with the declared rust-version, as a user of the published crate would: the package alone,
# without the workspace (whose command-line member and dev-dependencies may need a newer toolchain) and with the
# versions Cargo.lock pins. Installs the toolchain if it is missing.
set -euo pipefail
cd "$(dirname "$0")/.."
MSRV="$(sed -n 's/^rust-version = "\(.*\)"/\1/p' Cargo.toml)"
rustup toolchain install "$MSRV" --profile minimal >/dev/null 2>&1 || rustup toolchain install "$MSRV" --profile minimal
dir=target/msrv-crate
rm -rf "$dir"
mkdir -p "$dir"
cp -r src build.rs README.md Cargo.lock "$dir"/
# The manifest's sections a library build reads: package, lib, features, dependencies, lints.
python3 - "$dir/Cargo.toml" <<'PY'
import re, sys
keep = re.compile(r"^\[(package|lib|features|dependencies|lints\.[a-z]+)\]\s*$")
out, on = [], False
for line in open("Cargo.toml", encoding="utf-8"):
    if line.startswith("["):
        on = bool(keep.match(line))
    if on:
        out.append(line)
out.append("\n[workspace]\n")  # its own workspace root, not a member of the repository's
open(sys.argv[1], "w", encoding="utf-8").write("".join(out))
PY
echo "--- rust $MSRV: cargo build --lib (default features, then serde)"
CARGO_TARGET_DIR=target/msrv cargo "+$MSRV" build --lib --manifest-path "$dir/Cargo.toml"
CARGO_TARGET_DIR=target/msrv cargo "+$MSRV" build --lib --features serde --manifest-path "$dir/Cargo.toml"
