//! The peer tools each kind of integration test needs, named once: a test
//! asks for them with [`crate::need`] (`if !need(peers::TLS_REGISTRY) {
//! return; }`), so that every test of one kind fails alike when a tool is
//! missing, and a new kind of test names what it adds.

/// Making the fixture images (umoci, busybox-static) and copying them into
/// a store (skopeo).
pub const FIXTURES: &[&str] = &["skopeo", "umoci", "busybox"];

/// The fixtures, and jq to read what the store keeps.
pub const STORE: &[&str] = &["skopeo", "umoci", "busybox", "jq"];

/// A plain registry ([`crate::registry::Registry::open`]) with the
/// fixtures pushed to it.
pub const REGISTRY: &[&str] = &["docker-registry", "skopeo", "umoci", "busybox"];

/// A registry that may serve TLS: openssl makes its certificates.
pub const TLS_REGISTRY: &[&str] = &["docker-registry", "skopeo", "umoci", "busybox", "openssl"];

/// A registry that may ask for credentials: htpasswd writes its users.
pub const AUTH_REGISTRY: &[&str] = &[
    "docker-registry",
    "skopeo",
    "umoci",
    "busybox",
    "openssl",
    "htpasswd",
];
