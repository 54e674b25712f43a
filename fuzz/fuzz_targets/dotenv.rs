//! Feeds arbitrary text to the dotenv parser (`.env`, `env_file:`,
//! `--env-file`): any input gives variables or an error naming the file,
//! never a panic or a hang.
#![no_main]

use libfuzzer_sys::fuzz_target;
use wharf::compose::env::parse_dotenv;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    // A lookup that knows a few names, so `${VAR}` and bare `KEY` lines
    // take both of their paths.
    let lookup = |name: &str| match name {
        "HOME" => Some("/root".to_string()),
        "EMPTY" => Some(String::new()),
        _ => None,
    };
    if let Err(e) = parse_dotenv(text, "fuzz.env", &lookup) {
        assert!(
            e.to_string().contains("fuzz.env"),
            "error without the file: {e}"
        );
    }
});
