//! Feeds arbitrary bytes to the whole compose loader as `-f -`: any input
//! must give a project or an error, never a panic, hang or runaway memory.
#![no_main]

use libfuzzer_sys::fuzz_target;
use wharf::compose::load::{load, LoadOptions};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let opts = LoadOptions {
        files: vec!["-".into()],
        project_name: Some("fuzz".into()),
        stdin: Some(text.to_string()),
        cwd: std::env::temp_dir(),
        ..LoadOptions::default()
    };
    let _ = load(&opts);
});
