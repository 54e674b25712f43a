//! Builds wharf-init (src/runtime/init_main.rs), the PID 1 of `init: true`
//! containers, as a static binary that wharf embeds with `include_bytes!`.
//! It must run inside any image (even one without a libc), hence static
//! glibc (`+crt-static`, needs libc6-dev's libc.a) and no crate dependencies,
//! so a direct rustc call suffices.

use std::env;
use std::path::PathBuf;
use std::process::Command;

fn main() {
    let src = "src/runtime/init_main.rs";
    println!("cargo:rerun-if-changed={src}");
    println!("cargo:rerun-if-changed=build.rs");
    let out = PathBuf::from(env::var_os("OUT_DIR").expect("cargo sets OUT_DIR")).join("wharf-init");
    let rustc = env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
    let target = env::var("TARGET").expect("cargo sets TARGET");
    let status = Command::new(rustc)
        .args([
            "--edition",
            "2021",
            "--crate-name",
            "wharf_init",
            "--target",
        ])
        .arg(&target)
        .args([
            "-C",
            "opt-level=s",
            "-C",
            "panic=abort",
            "-C",
            "lto=fat",
            "-C",
            "codegen-units=1",
            "-C",
            "strip=symbols",
            "-C",
            "target-feature=+crt-static",
            "-o",
        ])
        .arg(&out)
        .arg(src)
        .status()
        .expect("running rustc for wharf-init");
    if !status.success() {
        panic!(
            "building the static wharf-init failed ({status}); a static libc is needed \
             (Debian: apt-get install libc6-dev)"
        );
    }
}
