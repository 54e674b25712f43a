//! Feeds arbitrary text to the image reference parser: any input gives a
//! reference or an error, never a panic; and a parsed reference, printed in
//! its full form, parses back to itself (what `pull`, `tag` and the store
//! rely on when they write a name and read it again).
#![no_main]

use libfuzzer_sys::fuzz_target;
use wharf::image::reference::Reference;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(parsed) = Reference::parse(text) {
        let printed = parsed.to_string();
        let again = Reference::parse(&printed).unwrap_or_else(|e| {
            panic!("{text:?} printed as {printed:?}, which does not parse: {e}")
        });
        assert_eq!(again, parsed, "{text:?} printed as {printed:?}");
    }
});
