//! Feeds arbitrary bytes to the layer unpacker as an uncompressed tar: any
//! input unpacks or fails with an error, never a panic; and whatever the
//! entries say (`../`, absolute paths, symlinks out, hard links to outside,
//! whiteouts of `..`), nothing is written outside the destination.
#![no_main]

use std::fs;
use std::path::PathBuf;
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use wharf::image::unpack::{remove_tree, unpack_layer_with_split, UnpackOptions};

/// `base/outside/canary` must stay as it is; layers go to `base/dest`.
fn base() -> &'static PathBuf {
    static BASE: OnceLock<PathBuf> = OnceLock::new();
    BASE.get_or_init(|| {
        let base = std::env::temp_dir().join(format!("wharf-fuzz-unpack-{}", std::process::id()));
        fs::create_dir_all(base.join("outside")).expect("base");
        fs::write(base.join("outside/canary"), b"canary").expect("canary");
        fs::create_dir_all(base.join("scratch")).expect("scratch");
        base
    })
}

fuzz_target!(|data: &[u8]| {
    let base = base();
    let dest = base.join("dest");
    fs::create_dir(&dest).expect("a fresh destination");
    let opts = UnpackOptions {
        allow_devices: false,
        preserve_owners: false,
    };
    let _ = unpack_layer_with_split(data, &dest, &base.join("scratch"), &opts);
    remove_tree(&dest).expect("removing the destination");
    let mut left: Vec<String> = fs::read_dir(base)
        .expect("base")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    left.sort();
    assert_eq!(
        left,
        ["outside", "scratch"],
        "something was written beside the destination"
    );
    assert_eq!(
        fs::read_dir(base.join("scratch")).expect("scratch").count(),
        0,
        "a tar split spill file was left"
    );
    let outside: Vec<_> = fs::read_dir(base.join("outside"))
        .expect("outside")
        .collect();
    assert_eq!(
        outside.len(),
        1,
        "something was written outside the destination"
    );
    assert_eq!(
        fs::read(base.join("outside/canary")).expect("canary"),
        b"canary"
    );
});
