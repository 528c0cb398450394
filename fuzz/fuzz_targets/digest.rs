//! `digest::parse` on any text: an error or a sha256 digest of 64
//! lowercase hex digits that prints as it was written.

#![no_main]

use img_core::digest;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|text: &str| {
    if let Ok(parsed) = digest::parse(text) {
        assert_eq!(parsed.to_string(), text);
        assert_eq!(digest::short(&parsed).len(), 12);
        digest::ensure_sha256(&parsed).expect("a parsed digest is sha256");
    }
});
