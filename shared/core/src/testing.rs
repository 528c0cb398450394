//! What the library crates' unit tests share: the rule for a test that
//! cannot run here. It fails — a test that returns early passes without proving
//! anything — unless the developer asked to skip such tests with
//! `IMG_TEST_SKIP_MISSING=1` (never under `CI=true`), as the integration
//! tests do for missing peer tools.

/// Whether a test that needs root (`why`) may run: true as root; false,
/// with a SKIPPED line, when skipping was asked for; a failure otherwise.
pub fn need_root(why: &str) -> bool {
    if rustix::process::geteuid().is_root() {
        return true;
    }
    let skip = std::env::var("IMG_TEST_SKIP_MISSING").as_deref() == Ok("1")
        && std::env::var("CI").as_deref() != Ok("true");
    assert!(
        skip,
        "this test needs root ({why}): run it as root, or set IMG_TEST_SKIP_MISSING=1 to skip it"
    );
    eprintln!("SKIPPED (IMG_TEST_SKIP_MISSING=1): needs root ({why})");
    false
}
