//! What every integration test that runs containers shares: the loopback
//! registry the harness started (scripts/with-registry) and the result of
//! one `wharf` command.

#![allow(dead_code)]

use std::path::PathBuf;
use std::process::Output;

/// The cgroup directories left of the containers `ids`, in every
/// hierarchy (the v2 tree and each v1 controller), wherever they sit within
/// two levels below a hierarchy's root (`wharf/<id>`, a `cgroup_parent`'s
/// `<parent>/<id>`).
pub fn cgroups_of<S: AsRef<str>>(ids: &[S]) -> Vec<PathBuf> {
    let ids: Vec<&str> = ids.iter().map(AsRef::as_ref).collect();
    let mut out = Vec::new();
    let mut dirs = vec![PathBuf::from("/sys/fs/cgroup")];
    while let Some(d) = dirs.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            if !e.path().is_dir() {
                continue;
            }
            let name = e.file_name().to_string_lossy().into_owned();
            if ids.contains(&name.as_str()) {
                out.push(e.path());
            } else if d.components().count() < 6 {
                dirs.push(e.path());
            }
        }
    }
    out
}

/// The harness's registry, or `None` (and SKIPPED printed) outside it.
pub fn registry() -> Option<String> {
    match std::env::var("WHARF_TEST_REGISTRY") {
        Ok(r) if !r.is_empty() => Some(r),
        _ => {
            eprintln!(
                "SKIPPED: WHARF_TEST_REGISTRY is not set (run through scripts/with-registry)"
            );
            None
        }
    }
}

pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    pub fn from(out: Output) -> Run {
        Run {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    pub fn ok(self) -> Run {
        assert_eq!(
            self.code, 0,
            "stdout: {}\nstderr: {}",
            self.stdout, self.stderr
        );
        self
    }
}
