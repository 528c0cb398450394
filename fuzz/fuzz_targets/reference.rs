//! `Reference::parse` and `Platform::parse` on any text: an error or a
//! value, never a panic; and a parsed reference's store name and familiar
//! form parse back to the same image name, tag and digest (the familiar
//! form where Docker's is not ambiguous: see `familiar_is_ambiguous`).

#![no_main]

use img_core::platform::Platform;
use img_core::reference::Reference;
use libfuzzer_sys::fuzz_target;

/// Whether Docker's familiar form of `parsed` reads back as another
/// registry: a Docker Hub path whose first part looks like a host
/// (`docker.io/my.org/app` shows as `my.org/app`, as Docker shows it).
fn familiar_is_ambiguous(parsed: &Reference) -> bool {
    let first = parsed.familiar_name();
    let first = first.split('/').next().unwrap_or_default();
    parsed.registry() == "docker.io"
        && parsed.familiar_name().contains('/')
        && (first.contains(['.', ':'])
            || first == "localhost"
            || first.chars().any(|c| c.is_ascii_uppercase()))
}

fuzz_target!(|text: &str| {
    if let Ok(parsed) = Reference::parse(text) {
        let mut shown = vec![parsed.store_name()];
        if !familiar_is_ambiguous(&parsed) {
            shown.push(parsed.familiar());
        }
        for shown in shown {
            let again = Reference::parse(&shown).unwrap_or_else(|e| {
                panic!("{text:?} shows as {shown:?}, which does not parse: {e}")
            });
            assert_eq!(again.name(), parsed.name(), "{text:?} via {shown:?}");
            assert_eq!(again.tag(), parsed.tag(), "{text:?} via {shown:?}");
            if parsed.tag().is_none() {
                assert_eq!(again.digest(), parsed.digest(), "{text:?} via {shown:?}");
            }
        }
    }
    if let Ok(platform) = Platform::parse(text) {
        let shown = platform.to_string();
        let again = Platform::parse(&shown)
            .unwrap_or_else(|e| panic!("{text:?} shows as {shown:?}, which does not parse: {e}"));
        assert_eq!(again.to_string(), shown);
    }
});
