//! What every integration test that runs containers shares: the loopback
//! registry the harness started (scripts/with-registry) and the result of
//! one `wharf` command.

#![allow(dead_code)]

use std::process::Output;

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
