//! `Ignore::parse` on any text, and matching its own lines as paths
//! against it: an error or an answer, never a panic.

#![no_main]

use img_dockerfile::Ignore;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|text: &str| {
    if let Ok(ignore) = Ignore::parse(text) {
        for line in text.lines() {
            let _ = ignore.excludes(line);
            let _ = ignore.may_include_below(line);
        }
    }
});
