//! `include/portcullis.h` is what cbindgen generates from the sources: this test fails
//! when the committed header is stale, and `PORTCULLIS_BLESS=1` writes it instead.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::path::Path;

#[test]
fn the_committed_header_is_up_to_date() {
    let crate_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    let config = cbindgen::Config::from_file(crate_dir.join("cbindgen.toml"))
        .expect("cbindgen.toml is readable");
    let bindings = cbindgen::Builder::new()
        .with_crate(crate_dir)
        .with_config(config)
        .generate()
        .expect("cbindgen reads the crate");
    let mut generated = Vec::new();
    bindings.write(&mut generated);
    let generated = String::from_utf8(generated).expect("the header is UTF-8");
    let committed_path = crate_dir.join("include/portcullis.h");
    if std::env::var_os("PORTCULLIS_BLESS").is_some_and(|v| v == "1") {
        std::fs::write(&committed_path, &generated).expect("the header is writable");
        return;
    }
    let committed = std::fs::read_to_string(&committed_path).unwrap_or_default();
    assert!(
        committed == generated,
        "ffi/include/portcullis.h is stale: run `PORTCULLIS_BLESS=1 cargo test -p portcullis-ffi --test header` and commit it"
    );
}
