//! Feeds arbitrary text to the Dockerfile parser, then expands every
//! instruction and plans the stages: any input must give a result or an
//! error, never a panic or a hang.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        wharf::build::frontend_pipeline(text);
    }
});
